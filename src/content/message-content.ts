// What the message scanner found in one message: the facts content rules read. Types only.

/** One header field of the message: the name as sent; the value unfolded, RFC 2047 decoded, trimmed. */
export interface HeaderField {
  readonly name: string;
  readonly value: string;
}

export interface AttachmentInfo {
  /** File name, RFC 2231 and RFC 2047 decoded; from Content-Disposition's filename, else Content-Type's name. */
  readonly name: string | undefined;
  /** Declared MIME type, lower case ('application/octet-stream' when absent or garbled). */
  readonly type: string;
  /** Decoded bytes, counted, never kept. */
  readonly size: number;
  /** 0: a part of the message itself; 1: a part of an attached message/rfc822; and so on. */
  readonly depth: number;
}

export interface MessageContent {
  /** The message's own header fields, in order. */
  readonly headers: readonly HeaderField[];
  /** Decoded text of the text/plain and text/html (reduced to text) parts, at most the scan limit. */
  readonly text: string;
  readonly textTruncated: boolean;
  readonly attachments: readonly AttachmentInfo[];
  /** Bytes as received: header block and body. */
  readonly size: number;
  readonly messageId: string | undefined;
  readonly subject: string | undefined;
  /** Oddities found, for the log ('unclosed-boundary', 'bad-base64', ...); not fatal. */
  readonly problems: readonly string[];
  /** Why the structure could not be followed (limits hit, parser error); unset when it could. */
  readonly unparseable: string | undefined;
}
