// The bounds that keep one message's scan small and quick whatever the message holds.

export interface ScanLimits {
  /** Text kept for the rules, in UTF-16 code units; past it `textTruncated`. */
  maxScanBytes: number;
  /** MIME parts (multipart containers, leaves, attached messages' parts), all depths; past it unparseable 'too-many-parts'. */
  maxParts: number;
  /** Levels of MIME nesting (a multipart, an attached message each add one); past it unparseable 'too-deep'. */
  maxDepth: number;
  /** One header field's value, in characters; longer ones are cut (problem 'header-too-long'). */
  maxHeaderBytes: number;
  /** Decoded bytes of text parts read (HTML markup included); past it `textTruncated`. */
  maxTextInputBytes: number;
  /** One part's header block inside the body; past it unparseable 'part-header-too-long'. */
  maxPartHeaderBytes: number;
  /** Top-level header fields kept; later ones are counted in `size` only (problem 'too-many-headers'). */
  maxHeaderFields: number;
}

const KIB = 1024;
const MIB = 1024 * KIB;

export const DEFAULT_SCAN_LIMITS: Readonly<ScanLimits> = Object.freeze({
  maxScanBytes: MIB,
  maxParts: 1000,
  maxDepth: 20,
  maxHeaderBytes: 64 * KIB,
  // HTML mail carries several bytes of markup per byte of text.
  maxTextInputBytes: 4 * MIB,
  maxPartHeaderBytes: 256 * KIB,
  maxHeaderFields: 1000,
});
