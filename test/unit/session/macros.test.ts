// MacroStore: libmilter's per-stage scoping, {x} == x, per-command (transient) macros, message resets.
import { decodeCommand } from '../../../src/milter/commands';
import { macroKey, type MacroPairs } from '../../../src/milter/macro-pairs';
import { Cmd } from '../../../src/milter/constants';
import { MacroStore } from '../../../src/session/macros';

/** The macro set a real MACRO packet with these names and values decodes to (the store's only source). */
function decoded(macros: Record<string, string>): MacroPairs {
  const strings = Object.entries(macros).flatMap(([name, value]) => [name, value]);
  const cmd = decodeCommand(Buffer.from(`D?${strings.map((text) => `${text}\0`).join('')}`));
  if (cmd.kind !== 'macro') throw new Error('not a MACRO packet');
  return cmd.macros;
}

/** A store after a whole Sendmail-like transaction, each stage defining `stage` and one own macro. */
function fullTransaction(): MacroStore {
  const store = new MacroStore();
  store.set(Cmd.CONNECT, decoded({ j: 'mx.example.org', stage: 'connect' }));
  store.set(Cmd.HELO, decoded({ '{tls_version}': 'TLSv1.3', stage: 'helo' }));
  store.set(Cmd.MAIL, decoded({ i: 'QID1', '{mail_addr}': 'alice@example.org', stage: 'mail' }));
  store.set(Cmd.RCPT, decoded({ '{rcpt_addr}': 'bob@example.net', stage: 'rcpt' }));
  store.set(Cmd.DATA, decoded({ '{data_macro}': 'd', stage: 'data' }));
  store.set(Cmd.EOH, decoded({ '{eoh_macro}': 'h', stage: 'eoh' }));
  store.set(Cmd.BODYEOB, decoded({ '{msg_id}': '<m1@example.org>', stage: 'eom' }));
  return store;
}

describe('lookup', () => {
  test('a macro not sent is undefined', () => {
    expect(new MacroStore().get('j')).toBeUndefined();
    expect(fullTransaction().get('{nope}')).toBeUndefined();
  });

  test('the latest stage wins; earlier stages remain visible', () => {
    const store = fullTransaction();
    expect(store.get('stage')).toBe('eom');
    expect(store.get('j')).toBe('mx.example.org');
    expect(store.get('{rcpt_addr}')).toBe('bob@example.net');
  });

  test('{j} and j are the same macro, whichever form is sent or asked for', () => {
    const store = new MacroStore();
    store.set(Cmd.CONNECT, decoded({ '{j}': 'braced', _: 'client [192.0.2.1]' }));
    expect(store.get('j')).toBe('braced');
    expect(store.get('{j}')).toBe('braced');
    expect(store.get('{_}')).toBe('client [192.0.2.1]');
  });

  test('macroKey unwraps only one-letter braced names', () => {
    expect(macroKey('{i}')).toBe('i');
    expect(macroKey('i')).toBe('i');
    expect(macroKey('{rcpt_addr}')).toBe('{rcpt_addr}');
    expect(macroKey('{}')).toBe('{}');
    expect(macroKey('{ab')).toBe('{ab');
  });

  test('an empty value is a value, not a missing macro', () => {
    const store = new MacroStore();
    store.set(Cmd.CONNECT, decoded({ j: 'mx' }));
    store.set(Cmd.MAIL, decoded({ j: '' }));
    expect(store.get('j')).toBe('');
  });

  test('names like constructor or __proto__ are not inherited from Object.prototype', () => {
    const store = new MacroStore();
    store.set(Cmd.CONNECT, decoded({ j: 'mx' }));
    expect(store.get('constructor')).toBeUndefined();
    expect(store.get('toString')).toBeUndefined();
  });
});

describe('stage scoping (a new stage clears the later ones, as libmilter)', () => {
  test('a new CONNECT clears HELO and every later stage', () => {
    const store = fullTransaction();
    store.set(Cmd.CONNECT, decoded({ j: 'mx2.example.org' }));
    expect(store.get('j')).toBe('mx2.example.org');
    for (const name of ['{tls_version}', 'i', '{rcpt_addr}', '{data_macro}', '{eoh_macro}', '{msg_id}', 'stage']) expect([name, store.get(name)]).toEqual([name, undefined]);
  });

  test('a new HELO clears MAIL onward and keeps CONNECT', () => {
    const store = fullTransaction();
    store.set(Cmd.HELO, decoded({ '{tls_version}': 'TLSv1.2' }));
    expect(store.get('j')).toBe('mx.example.org');
    expect(store.get('{tls_version}')).toBe('TLSv1.2');
    expect(store.get('i')).toBeUndefined();
    expect(store.get('{msg_id}')).toBeUndefined();
  });

  test('a new MAIL clears RCPT, DATA, EOH and EOM macros of the previous message', () => {
    const store = fullTransaction();
    store.set(Cmd.MAIL, decoded({ i: 'QID2' }));
    expect(store.get('i')).toBe('QID2');
    expect(store.get('{rcpt_addr}')).toBeUndefined();
    expect(store.get('{data_macro}')).toBeUndefined();
    expect(store.get('{eoh_macro}')).toBeUndefined();
    expect(store.get('{msg_id}')).toBeUndefined();
    expect(store.get('{tls_version}')).toBe('TLSv1.3');
  });

  test('each RCPT replaces the previous recipient macros', () => {
    const store = new MacroStore();
    store.set(Cmd.MAIL, decoded({ i: 'Q' }));
    store.set(Cmd.RCPT, decoded({ '{rcpt_addr}': 'one@example.net', '{rcpt_mailer}': 'error' }));
    store.set(Cmd.RCPT, decoded({ '{rcpt_addr}': 'two@example.net' }));
    expect(store.get('{rcpt_addr}')).toBe('two@example.net');
    expect(store.get('{rcpt_mailer}')).toBeUndefined();
  });

  test('EOH macros come before EOM ones in time: a new EOH list clears the EOM list', () => {
    const store = fullTransaction();
    store.set(Cmd.EOH, decoded({ stage: 'eoh-again' }));
    expect(store.get('{msg_id}')).toBeUndefined();
    expect(store.get('stage')).toBe('eoh-again');
  });

  test('a stage with no pairs (Postfix) still clears the later stages', () => {
    const store = fullTransaction();
    store.set(Cmd.MAIL, decoded({}));
    expect(store.get('i')).toBeUndefined();
    expect(store.get('{rcpt_addr}')).toBeUndefined();
  });
});

describe('transient macros (sent with HEADER, BODY, UNKNOWN)', () => {
  test.each([
    ['HEADER', Cmd.HEADER],
    ['BODY', Cmd.BODY],
    ['UNKNOWN', Cmd.UNKNOWN],
  ])('%s macros are visible until clearTransient, and shadow staged values meanwhile', (_name, cmd) => {
    const store = fullTransaction();
    store.set(cmd, decoded({ i: 'per-command', '{only_here}': 'x' }));
    expect(store.get('i')).toBe('per-command');
    expect(store.get('{only_here}')).toBe('x');
    store.clearTransient();
    expect(store.get('i')).toBe('QID1');
    expect(store.get('{only_here}')).toBeUndefined();
  });

  test('transient macros do not clear any stage', () => {
    const store = fullTransaction();
    store.set(Cmd.HEADER, decoded({}));
    expect(store.get('{msg_id}')).toBe('<m1@example.org>');
    expect(store.get('{eoh_macro}')).toBe('h');
  });

  test('a second transient set replaces the first', () => {
    const store = new MacroStore();
    store.set(Cmd.HEADER, decoded({ a: '1', b: '2' }));
    store.set(Cmd.BODY, decoded({ a: '3' }));
    expect(store.get('a')).toBe('3');
    expect(store.get('b')).toBeUndefined();
  });

  // Bug guard: with NR_HDR or NOHDRS the HEADER command gets no answer, so nothing calls clearTransient;
  // Postfix still sends `D L` before every header. The next staged macro packet (`D N`, `D E`) must end
  // the HEADER macros' validity, or they shadow the EOH/EOM values (protocol reference 4.2, 6.2).
  test('a staged macro packet ends the validity of the previous command-scoped macros', () => {
    const store = new MacroStore();
    store.set(Cmd.MAIL, decoded({ i: 'QID' }));
    store.set(Cmd.HEADER, decoded({ '{hdr_only}': 'stale', i: 'from-header' }));
    store.set(Cmd.EOH, decoded({ i: 'from-eoh' }));
    expect(store.get('i')).toBe('from-eoh');
    expect(store.get('{hdr_only}')).toBeUndefined();
  });
});

describe('resets and snapshot', () => {
  test('resetMessage keeps CONNECT and HELO macros and forgets the rest', () => {
    const store = fullTransaction();
    store.set(Cmd.HEADER, decoded({ '{hdr}': 'x' }));
    store.resetMessage();
    expect(store.get('j')).toBe('mx.example.org');
    expect(store.get('{tls_version}')).toBe('TLSv1.3');
    expect(store.get('stage')).toBe('helo');
    for (const name of ['i', '{mail_addr}', '{rcpt_addr}', '{data_macro}', '{eoh_macro}', '{msg_id}', '{hdr}']) expect([name, store.get(name)]).toEqual([name, undefined]);
  });

  test('resetAll forgets everything', () => {
    const store = fullTransaction();
    store.set(Cmd.BODY, decoded({ b: '1' }));
    store.resetAll();
    expect(store.snapshot()).toEqual({});
  });

  test('snapshot merges all stages, later overriding earlier, transient last', () => {
    const store = new MacroStore();
    store.set(Cmd.CONNECT, decoded({ j: 'mx', stage: 'connect' }));
    store.set(Cmd.MAIL, decoded({ '{i}': 'Q', stage: 'mail' }));
    store.set(Cmd.HEADER, decoded({ stage: 'header' }));
    expect(store.snapshot()).toEqual({ j: 'mx', i: 'Q', stage: 'header' });
  });
});
