// Text of text parts: charsets, HTML reduced to what a reader sees, budgets; the same text however the part is cut.
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { TextCollector } from '../../../src/content/text-collector';

function collect(parts: { kind: 'plain' | 'html'; bytes: Buffer; charset?: string }[], cuts: number[] = [], maxChars = 1 << 20, maxInput = 4 << 20) {
  const problems: string[] = [];
  const collector = new TextCollector(maxChars, maxInput, (problem) => problems.push(problem));
  for (const { kind, bytes, charset } of parts) {
    const sink = collector.startPart(kind, charset ?? false);
    let start = 0;
    for (const cut of [...cuts].filter((c) => c <= bytes.length).sort((a, b) => a - b).concat(bytes.length)) {
      sink.write(bytes.subarray(start, Math.max(start, cut)));
      start = Math.max(start, cut);
    }
    sink.end();
  }
  return { text: collector.text, truncated: collector.truncated, problems };
}

const html = (source: string) => [{ kind: 'html' as const, bytes: Buffer.from(source) }];

describe('HTML reduced to text', () => {
  test.each([
    ['<p>casino</p><p>bonus</p>', 'casino\nbonus'],
    ['casino<br>bonus', 'casino\nbonus'],
    ['<b>casino</b> <i>bonus</i>', 'casino bonus'],
    ['ca<b>sino</b>', 'casino'],
    ['casino&nbsp;bonus &amp; &#x56;iagra &euro;', 'casino bonus & Viagra €'],
    ['<head><title>hidden</title><style>.a{}</style></head><script>var x = "<p>no</p>";</script>seen', 'seen'],
    ['<!-- a comment --><p>after</p>', 'after'],
    ['<table><tr><td>a</td><td>b</td></tr></table>', 'a\nb'],
    ['  lots   of\r\n\tblanks  ', 'lots of blanks'],
    ['<p unclosed="attr', ''],
    ['<< > 3 < 4 casino', '<< > 3 < 4 casino'],
  ])('%j -> %j', (source, text) => {
    expect(collect(html(source)).text).toBe(text);
  });

  test('a 300 KB data: URI in an attribute is skipped, the text after it kept', () => {
    expect(collect(html(`<img src="data:image/png;base64,${'A'.repeat(300000)}"><p>after the image</p>`), [1000, 65536, 200000]).text).toBe('after the image');
  });

  test('the same text whatever the chunk boundaries (entities, tags and comments cut)', () => {
    const source = '<html><head><style>p{}</style></head><body><p>Gr&uuml;&szlig;e&nbsp;aus <b>M&uuml;nchen</b></p><!-- c --><script>x<y</script><div>casino&#32;bonus</div>€ &unknown; a<b</body></html>';
    const whole = collect(html(source)).text;
    expect(whole).toBe('Grüße aus München\ncasino bonus\n€ &unknown; a');
    fc.assert(fc.property(fc.array(fc.nat(source.length), { maxLength: 20 }), (cuts) => collect(html(source), cuts).text === whole));
  });
});

describe('charsets', () => {
  test('declared charsets decoded, multi-byte characters cut by chunk boundaries kept whole', () => {
    const samples: [string, string][] = [
      ['utf-8', 'Grüße – 価格 €'],
      ['iso-8859-15', 'Grüße €'],
      ['windows-1252', 'Grüße – €'],
      ['shift_jis', '価格 テスト'],
      ['utf-16le', 'Grüße – 価格 €'],
    ];
    for (const [charset, text] of samples) {
      const bytes = iconv.encode(text, charset);
      for (let cut = 0; cut <= bytes.length; cut++) expect(collect([{ kind: 'plain', bytes, charset }], [cut]).text).toBe(text);
    }
  });

  test('no charset or US-ASCII: 8-bit bytes read as UTF-8', () => {
    expect(collect([{ kind: 'plain', bytes: Buffer.from('café') }]).text).toBe('café');
    expect(collect([{ kind: 'plain', bytes: Buffer.from('café'), charset: 'us-ascii' }]).text).toBe('café');
  });

  test('an unknown charset: UTF-8, noted once per part with its name made safe for a log', () => {
    expect(collect([{ kind: 'plain', bytes: Buffer.from('café'), charset: 'X-Foo "bar"\n' }])).toEqual({ text: 'café', truncated: false, problems: ['unknown-charset:x-foo??bar?'] });
  });
});

describe('budgets and joining', () => {
  test('parts joined by one line break, empty parts adding none', () => {
    expect(collect([...html('<p>one</p>'), { kind: 'plain', bytes: Buffer.from('') }, { kind: 'plain', bytes: Buffer.from('two\r\nlines\r\n') }]).text).toBe('one\ntwo\nlines\n');
  });

  test('output cut at maxChars UTF-16 code units, input at maxInputBytes', () => {
    expect(collect([{ kind: 'plain', bytes: Buffer.from('x'.repeat(100)) }], [], 10)).toMatchObject({ text: 'x'.repeat(10), truncated: true });
    expect(collect([{ kind: 'plain', bytes: Buffer.from('x'.repeat(100)) }], [30], 1000, 50)).toMatchObject({ text: 'x'.repeat(50), truncated: true });
    expect(collect([{ kind: 'plain', bytes: Buffer.from('x'.repeat(100)) }], [], 100)).toMatchObject({ truncated: false });
  });
});
