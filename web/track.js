'use strict';
// The tracking viewer: the filters become /api/track's query (and the page's URL, to share a search);
// a row opens /api/track/ID. Every value came from an SMTP client or an MTA: it is set as text only.
(() => {
  const form = document.getElementById('filters');
  const body = document.querySelector('#records tbody');
  const message = document.getElementById('message');
  const detail = document.getElementById('detail');
  const FIELDS = ['from', 'to', 'ip', 'queue_id', 'answer', 'rule', 'since', 'until', 'limit'];

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? 'error' : '';
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    const value = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(value.error || `${response.status} ${response.statusText}`);
    return value;
  }

  function when(ms) {
    return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
  }

  function answerText(r) {
    return `${r.answer} at ${r.stage}${r.delayMs > 0 ? ` (${Math.round(r.delayMs)} ms delay)` : ''}`;
  }

  function recipientsText(r) {
    return r.recipients.map((x) => (x.answer === 'accepted' ? x.address : `${x.address} (${x.answer})`)).join(', ');
  }

  function query() {
    const params = new URLSearchParams();
    const data = new FormData(form);
    for (const name of FIELDS) {
      const value = String(data.get(name) || '').trim();
      if (value) params.set(name, value);
    }
    return params;
  }

  async function search() {
    const params = query();
    history.replaceState(null, '', `${location.pathname}?${params}`);
    say('Searching…');
    try {
      const { records } = await getJson(`/api/track?${params}`);
      body.replaceChildren(...records.map(row));
      say(records.length === 0 ? 'No records match.' : `${records.length} record${records.length === 1 ? '' : 's'}, newest first.`);
    } catch (error) {
      body.replaceChildren();
      say(error.message, true);
    }
  }

  function row(r) {
    const tr = el('tr');
    tr.dataset.id = String(r.id);
    tr.append(
      el('td', when(r.time)),
      el('td', r.queueId || ''),
      el('td', answerText(r), `answer-${r.answer}`),
      el('td', [r.clientIp, r.clientName].filter(Boolean).join(' ')),
      el('td', r.helo || ''),
      el('td', r.sender === undefined ? '' : `<${r.sender}>`),
      el('td', recipientsText(r)),
      el('td', r.rules.join(', ')),
    );
    tr.addEventListener('click', () => show(r.id));
    return tr;
  }

  async function show(id) {
    try {
      const r = await getJson(`/api/track/${encodeURIComponent(id)}`);
      const fields = [
        ['Time', when(r.time)],
        ['Answer', answerText(r)],
        ['Queue id', r.queueId],
        ['MTA', [r.mtaHost, r.daemon].filter(Boolean).join(' ')],
        ['Session', r.session],
        ['Client', [r.clientIp, r.clientName].filter(Boolean).join(' ')],
        ['Reverse DNS', r.reverseDns],
        ['HELO', r.helo],
        ['Auth user', r.authUser],
        ['Sender', r.sender === undefined ? undefined : `<${r.sender}>`],
        ...r.recipients.map((x) => ['Recipient', `<${x.address}> ${x.answer}${x.reply ? `: ${x.reply}` : ''}`]),
        ['Rules', r.rules.join(', ')],
        ...r.keys.map((k) => ['Key', `${k.key} = ${k.score}`]),
        ['DNS lists', r.dnsLists.join(', ')],
        ['Size', r.size === undefined ? undefined : `${r.size} bytes`],
        ['Message-ID', r.messageId],
        ['Subject', r.subject],
        ['Attachments', (r.attachments || []).join(', ')],
      ].filter(([, value]) => value !== undefined && value !== '');
      document.getElementById('detail-id').textContent = String(r.id);
      document.getElementById('detail-fields').replaceChildren(...fields.flatMap(([name, value]) => [el('dt', name), el('dd', value)]));
      detail.hidden = false;
      detail.scrollIntoView({ block: 'nearest' });
    } catch (error) {
      say(error.message, true);
    }
  }

  const initial = new URLSearchParams(location.search);
  for (const name of FIELDS) if (initial.has(name)) form.elements[name].value = initial.get(name);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void search();
  });
  void search();
})();
