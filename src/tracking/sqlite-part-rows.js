// @ts-check
// The rows of a batch's parts (sqlite-batch.ts writes them), read on the database's thread
// (libsql-thread.js). Plain JavaScript: that thread starts from a .js file, and the tests run the
// sources as TypeScript.
//
// A part is two lines: the JSON array of its records' client IP keys (hex, or null), then the JSON
// array of the records themselves, one JSON.stringify for the part, as the event loop made it. Each
// record's own text, cut out of that array, is the value of its detail column (the insert leaves out
// what has a column of its own): the event loop then serialises a record once and builds nothing
// else for it, and this thread parses the part once and serialises nothing (sqlite-batch.ts has the
// figures).
'use strict';

/** The records table's columns that a record fills, in the order partRows gives their values. */
const RECORD_COLUMNS = /** @type {const} */ (['time', 'queue_id', 'client_ip', 'sender', 'answer', 'detail']);

/**
 * @typedef {string | number | null} RowValue
 * @typedef {[RowValue[], [string, number][], [string, number][]]} RecordRows one record's columns
 *   (RECORD_COLUMNS), its recipients' keys and its rules', each key [key, time]
 */

/**
 * Each record's rows, part after part.
 * @param {string} text parts one after another, each two lines
 * @returns {RecordRows[]}
 */
function partRows(text) {
  /** @type {RecordRows[]} */
  const rows = [];
  for (let start = 0; start < text.length; ) {
    const split = text.indexOf('\n', start);
    const end = text.indexOf('\n', split + 1);
    if (split < 0 || end < 0) throw new Error('a batch part without its two lines');
    const ipKeys = /** @type {(string | null)[]} */ (JSON.parse(text.slice(start, split)));
    const recordsText = text.slice(split + 1, end);
    const records = /** @type {import('./tracking-record').TrackingRecord[]} */ (JSON.parse(recordsText));
    const details = elementTexts(recordsText);
    if (ipKeys.length !== records.length || details.length !== records.length) throw new Error('a batch part whose lines do not match');
    for (let i = 0; i < records.length; i++) {
      const record = records[i];
      const time = record.time;
      rows.push([
        [time, record.queueId ?? null, ipKeys[i], record.sender ?? null, record.answer, details[i]],
        record.recipients.map((r) => [r.address, time]),
        record.rules.map((rule) => [rule, time]),
      ]);
    }
    start = end + 1;
  }
  return rows;
}

/**
 * The text of each element of a JSON array of objects, as written. Only strings can hold a bracket
 * that is not structure, and inside them only a backslash escapes, so one pass finds the elements.
 * @param {string} json
 * @returns {string[]}
 */
function elementTexts(json) {
  /** @type {string[]} */
  const texts = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === QUOTE) {
      // To the closing quote, stepping over each escaped character.
      for (i++; json.charCodeAt(i) !== QUOTE; i++) if (json.charCodeAt(i) === BACKSLASH) i++;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (depth++ === 1) start = i;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 1) texts.push(json.slice(start, i + 1));
    }
  }
  return texts;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

module.exports = { RECORD_COLUMNS, partRows, elementTexts };
