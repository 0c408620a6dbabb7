// What the message scanner found in one message: the facts the content rules read (issue 17).

/** One header field of the top-level message. */
export interface HeaderField {
  /** The name as the MTA sent it (case kept). */
  readonly name: string;
  /** Unfolded, RFC 2047 decoded, trimmed; cut at `maxHeaderBytes` (a problem `header-too-long` then). */
  readonly value: string;
}

/** A part that is a file, or an attached message; its content is counted, never kept. */
export interface AttachmentInfo {
  /** The file name, RFC 2231 (with continuations) and RFC 2047 decoded: Content-Disposition's filename, else Content-Type's name. */
  readonly name: string | undefined;
  /** The declared MIME type, lower case; 'application/octet-stream' when absent or garbled. */
  readonly type: string;
  /** Decoded bytes (base64 and quoted-printable undone), counted as they stream past. */
  readonly size: number;
  /** 0: a part of the top message; 1: a part of an attached message/rfc822; and so on. */
  readonly depth: number;
}

export interface MessageContent {
  /** The top-level message's header fields, in order. */
  readonly headers: readonly HeaderField[];
  /**
   * The decoded text of the text/plain and text/html parts that are not attachments (attached
   * messages' included), in order, joined by '\n'; HTML reduced to its text. At most
   * `maxScanBytes` UTF-16 code units.
   */
  readonly text: string;
  /** True when `text` was cut: by `maxScanBytes` of text, or `maxTextInputBytes` of decoded text parts read. */
  readonly textTruncated: boolean;
  /** Every leaf part with a file name or `Content-Disposition: attachment`, at any depth; message/rfc822 parts too. */
  readonly attachments: readonly AttachmentInfo[];
  /** Bytes as received: the header block as reconstructed from the fields, plus the body bytes. */
  readonly size: number;
  /** The top-level Message-ID, trimmed. */
  readonly messageId: string | undefined;
  /** The top-level Subject, decoded. */
  readonly subject: string | undefined;
  /** Oddities found, short kebab-case words for the log ('unclosed-boundary', 'bad-base64', 'unknown-charset:x-foo', ...); not fatal. */
  readonly problems: readonly string[];
  /** Set, to a reason, when the structure could not be followed (a limit hit, a parser error); the rules apply their "could not parse" answer. */
  readonly unparseable: string | undefined;
}
