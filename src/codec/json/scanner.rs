//! The resumable structural scanner behind [`JsonFraming::Stream`]: it finds
//! where one JSON value ends without parsing it.
//!
//! The scanner keeps its whole state between calls (the lexical state, the
//! nesting depth and the kinds of the open brackets), so the decoder hands it
//! only the bytes that arrived since the last call: every byte is scanned
//! once, however the input is split.
//!
//! [`JsonFraming::Stream`]: super::JsonFraming::Stream

use std::{fmt, io};

use bytes::{Buf, BytesMut};
use memchr::{memchr, memchr2, memchr3};

use super::{FrameTooLarge, JsonFrame, head};

// What a byte means to the scanner. The order matters: inside a container,
// every class below `QUOTE` is passed over with one comparison.
const PLAIN: u8 = 0;
const SPACE: u8 = 1;
const PUNCT: u8 = 2;
const QUOTE: u8 = 3;
const OPEN: u8 = 4;
const CLOSE: u8 = 5;

/// The class of every byte, so the hot loops branch once per byte.
static CLASS: [u8; 256] = {
    let mut table = [PLAIN; 256];
    table[b' ' as usize] = SPACE;
    table[b'\t' as usize] = SPACE;
    table[b'\n' as usize] = SPACE;
    table[b'\r' as usize] = SPACE;
    table[b',' as usize] = PUNCT;
    table[b':' as usize] = PUNCT;
    table[b'"' as usize] = QUOTE;
    table[b'{' as usize] = OPEN;
    table[b'[' as usize] = OPEN;
    table[b'}' as usize] = CLOSE;
    table[b']' as usize] = CLOSE;
    table
};

/// Whether `byte` is JSON whitespace, which separates values and never
/// belongs to one.
pub(super) fn is_space(byte: u8) -> bool {
    CLASS[byte as usize] == SPACE
}

// Eight bytes at a time: a word with each byte's high bit set where the
// byte equals `b` in `word`. Bits above the first match may be set wrongly
// (a borrow runs into them), but the lowest set bit is always right, so
// only the first match is used.
const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

fn bytes_equal(word: u64, b: u8) -> u64 {
    let diff = word ^ (ONES * u64::from(b));
    diff.wrapping_sub(ONES) & !diff & HIGHS
}

/// Where the first of the first matches lies in a little-endian word.
fn first_match(matches: u64) -> usize {
    (matches.trailing_zeros() / 8) as usize
}

/// How many bytes at the front of `bytes` are neither quotes nor brackets.
fn find_structural(bytes: &[u8]) -> usize {
    // Between strings there are usually a few bytes (`":`, `,`, a short
    // number), where a table lookup per byte wins; long runs (arrays of
    // numbers, whitespace) go to memchr's vector loops.
    let head = &bytes[..bytes.len().min(16)];
    if let Some(found) = head.iter().position(|&b| CLASS[b as usize] >= QUOTE) {
        return found;
    }
    // Two searches, the second only up to where the first stopped, so
    // neither looks past the byte wanted: the run is read at most twice.
    let rest = &bytes[head.len()..];
    let open = memchr3(b'"', b'{', b'[', rest).unwrap_or(rest.len());
    let close = memchr2(b'}', b']', &rest[..open]).unwrap_or(open);
    head.len() + close
}

/// Where the first quote or bracket at or after `i` in `input` is, or
/// `input.len()`.
#[inline(always)]
fn next_structural(input: &[u8], i: usize) -> usize {
    // Most gaps between strings are a byte or two (`":"`, `","`, `"],`,
    // `":[`), for which setting up the search costs more than it finds: look
    // at two bytes here first. In JSON-RPC requests this saves about a third
    // of the instructions spent between strings.
    match input.get(i) {
        Some(&byte) if CLASS[byte as usize] < QUOTE => {}
        _ => return i,
    }
    match input.get(i + 1) {
        Some(&byte) if CLASS[byte as usize] < QUOTE => {}
        _ => return i + 1,
    }
    i + 2 + find_structural(&input[i + 2..])
}

/// Where the first `"` or `\` in `bytes` is.
fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    // Most strings in JSON-RPC are short (keys, small values), where a call
    // into memchr's vector loop costs more than it saves: look at the first
    // words here, and leave long runs to memchr.
    const SHORT: usize = 16;
    let mut i = 0;
    while i < SHORT {
        let Some(chunk) = bytes[i..].first_chunk::<8>() else {
            break;
        };
        let word = u64::from_le_bytes(*chunk);
        let matches = bytes_equal(word, b'"') | bytes_equal(word, b'\\');
        if matches != 0 {
            return Some(i + first_match(matches));
        }
        i += 8;
    }
    memchr2(b'"', b'\\', &bytes[i..]).map(|found| i + found)
}

/// How long the number, literal or junk token at the front of `bytes` is,
/// if something ends it.
fn scalar_len(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| CLASS[b as usize] != PLAIN)
}

/// Where the scanner is, lexically.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex {
    /// Before the first byte of a value.
    Start,
    /// Inside a top-level number, literal or junk token.
    Scalar,
    /// Inside an object or array, outside any string.
    Structure,
    /// Inside a string.
    String,
    /// Inside a string, right after a backslash.
    Escape,
}

/// Finds the end of one JSON value at a time, fed in pieces.
///
/// It frames, it does not validate: any byte sequence is cut into values, and
/// malformed ones are left for the parser above to reject. A mismatched
/// closing bracket ends the value it appears in, so one bad value cannot
/// swallow the rest of the stream.
#[derive(Clone)]
pub(super) struct Scanner {
    lex: Lex,
    /// Open brackets.
    depth: usize,
    /// Bit `d % 64` of word `d / 64` is set when the bracket opened at depth
    /// `d` is `{`. Only the first `tracked` levels are recorded, so a value
    /// that is being discarded cannot grow this without bound; closers
    /// deeper than that match whatever opened them.
    kinds: Vec<u64>,
    tracked: usize,
    /// Bytes the scanner has looked at, for the tests that check each byte is
    /// scanned once.
    #[cfg(test)]
    steps: u64,
}

impl fmt::Debug for Scanner {
    /// Without the stack of bracket kinds, which can be long.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scanner")
            .field("lex", &self.lex)
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

impl Scanner {
    /// A stack this large after a deeply nested value is released rather than
    /// kept for the life of the connection.
    const KEEP_KINDS_WORDS: usize = 1024;

    /// A scanner that records bracket kinds up to `tracked` levels deep.
    ///
    /// A value of `n` bytes cannot nest deeper than `n`, so the frame length
    /// limit is enough for every value that is kept.
    pub(super) fn new(tracked: usize) -> Self {
        Self {
            lex: Lex::Start,
            depth: 0,
            kinds: Vec::new(),
            tracked,
            #[cfg(test)]
            steps: 0,
        }
    }

    /// Whether the value being scanned is a number, literal or junk token,
    /// which the end of the input completes.
    pub(super) fn in_scalar(&self) -> bool {
        self.lex == Lex::Scalar
    }

    /// Scans `input`, the bytes that follow those of earlier calls.
    ///
    /// Returns how many bytes of `input` complete the current value, after
    /// which the scanner is ready for the next one; `None` if the value goes
    /// on past `input`. A number or literal ends before the byte that ends
    /// it, so that byte is not counted. The first byte of a value must not
    /// be whitespace.
    pub(super) fn feed(&mut self, input: &[u8]) -> Option<usize> {
        let end = self.run(input);
        #[cfg(test)]
        {
            self.steps += end.unwrap_or(input.len()) as u64;
        }
        if end.is_some() {
            self.reset();
        }
        end
    }

    fn reset(&mut self) {
        self.lex = Lex::Start;
        self.depth = 0;
        if self.kinds.capacity() > Self::KEEP_KINDS_WORDS {
            self.kinds = Vec::new();
        }
    }

    fn run(&mut self, input: &[u8]) -> Option<usize> {
        // Pick up where the last call stopped. From there on the state is
        // which loop is running rather than a variable read at every token,
        // which the branch predictor handles better.
        let (mut i, mut in_string) = match self.lex {
            Lex::Structure => (0, false),
            Lex::String => (0, true),
            Lex::Escape => {
                // Whatever follows the backslash, `"` and `\` included, is
                // part of the string.
                input.first()?;
                (1, true)
            }
            Lex::Scalar => return scalar_len(input),
            Lex::Start => {
                let &byte = input.first()?;
                match CLASS[byte as usize] {
                    PLAIN => {
                        self.lex = Lex::Scalar;
                        return scalar_len(&input[1..]).map(|len| len + 1);
                    }
                    QUOTE => (1, true),
                    OPEN => {
                        self.push(byte == b'{');
                        (1, false)
                    }
                    // A stray closer, `,` or `:` at the top level is a value
                    // of its own, for the parser to reject. (The decoder
                    // skips whitespace before a value, so SPACE does not
                    // occur here.)
                    _ => return Some(1),
                }
            }
        };

        loop {
            if in_string {
                loop {
                    let Some(found) = find_quote_or_backslash(&input[i..]) else {
                        self.lex = Lex::String;
                        return None;
                    };
                    i += found + 1;
                    if input[i - 1] == b'"' {
                        break;
                    }
                    if i == input.len() {
                        self.lex = Lex::Escape;
                        return None;
                    }
                    i += 1;
                }
                if self.depth == 0 {
                    return Some(i);
                }
            }

            // Between strings, inside a container: only brackets matter.
            loop {
                i = next_structural(input, i);
                let Some(&byte) = input.get(i) else {
                    self.lex = Lex::Structure;
                    return None;
                };
                i += 1;
                if byte == b'"' {
                    break;
                }
                if CLASS[byte as usize] == OPEN {
                    self.push(byte == b'{');
                } else if !self.pop(byte == b'}') || self.depth == 0 {
                    return Some(i);
                }
            }
            in_string = true;
        }
    }

    // Inlined: a JSON-RPC message opens a bracket or two, and a call cost
    // as much as the bookkeeping.
    #[inline]
    fn push(&mut self, object: bool) {
        let depth = self.depth;
        self.depth += 1;
        if depth >= self.tracked {
            return;
        }
        let bit = depth % 64;
        match self.kinds.get_mut(depth / 64) {
            // Set or clear the bit without a branch on the bracket's kind.
            Some(word) => *word = (*word & !(1 << bit)) | (u64::from(object) << bit),
            // Levels open one at a time, so a missing word is the next one.
            None => self.kinds.push(u64::from(object) << bit),
        }
    }

    /// Closes the innermost bracket; false if it was of the other kind.
    #[inline]
    fn pop(&mut self, object: bool) -> bool {
        self.depth -= 1;
        let depth = self.depth;
        if depth >= self.tracked {
            return true;
        }
        let opened_object = self.kinds[depth / 64] & (1 << (depth % 64)) != 0;
        opened_object == object
    }
}

/// The decoding state of [`JsonFraming::Stream`](super::JsonFraming::Stream).
#[derive(Clone, Debug)]
pub(super) struct StreamDecoder {
    scanner: Scanner,
    /// Bytes of the current value already scanned, at the front of the
    /// buffer.
    scanned: usize,
    /// While an oversized value is being discarded: how many of its bytes
    /// have gone.
    discarding: Option<u64>,
}

impl StreamDecoder {
    pub(super) fn new(max_frame_length: usize) -> Self {
        Self {
            scanner: Scanner::new(max_frame_length),
            scanned: 0,
            discarding: None,
        }
    }

    pub(super) fn decode(&mut self, src: &mut BytesMut, max: usize) -> Option<JsonFrame> {
        if self.discarding.is_some() && !self.discard(src) {
            return None;
        }
        if self.scanned == 0 {
            let start = src.iter().position(|&b| !is_space(b)).unwrap_or(src.len());
            src.advance(start);
            if src.is_empty() {
                return None;
            }
        }

        // Never look further than one byte past the limit: that byte decides
        // whether the value is too large.
        let window = src.len().min(max.saturating_add(1));
        match self.scanner.feed(&src[self.scanned..window]) {
            Some(len) => {
                let end = self.scanned + len;
                self.scanned = 0;
                if end <= max {
                    return Some(JsonFrame::Value(src.split_to(end).freeze()));
                }
                let head = head(&src[..end]);
                src.advance(end);
                Some(JsonFrame::TooLarge(
                    FrameTooLarge::new(max, end as u64),
                    head,
                ))
            }
            None if window <= max => {
                self.scanned = window;
                None
            }
            None => {
                // Over the limit: stop buffering, and discard the rest of the
                // value as it comes, starting with what is already here.
                let head = head(&src[..window]);
                src.advance(window);
                self.scanned = 0;
                self.discarding = Some(window as u64);
                let size = self.discarding_progress(src);
                Some(JsonFrame::TooLarge(FrameTooLarge::new(max, size), head))
            }
        }
    }

    /// Between values, skips the whitespace before the next one and says
    /// how long its line is (the bytes before the next `\n`), if the whole
    /// line has arrived and is no longer than `max`; `None` in the middle of
    /// a value.
    pub(super) fn line_ahead(&mut self, src: &mut BytesMut, max: usize) -> Option<usize> {
        if self.scanned != 0 || self.discarding.is_some() {
            return None;
        }
        let start = src.iter().position(|&b| !is_space(b)).unwrap_or(src.len());
        if start > 0 {
            src.advance(start);
        }
        memchr(b'\n', &src[..src.len().min(max.saturating_add(1))])
    }

    pub(super) fn decode_eof(
        &mut self,
        src: &mut BytesMut,
        max: usize,
    ) -> io::Result<Option<JsonFrame>> {
        if let Some(frame) = self.decode(src, max) {
            return Ok(Some(frame));
        }
        if let Some(discarded) = self.discarding {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed inside an oversized JSON value: {discarded} bytes received"
                ),
            ));
        }
        if src.is_empty() {
            return Ok(None);
        }
        if self.scanner.in_scalar() {
            // Nothing but the end of input follows a number or literal, so
            // the end completes it; `decode` has scanned all of `src`.
            self.scanner.reset();
            self.scanned = 0;
            return Ok(Some(JsonFrame::Value(src.split().freeze())));
        }
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "connection closed inside a JSON value: {} bytes received",
                src.len()
            ),
        ))
    }

    /// Discards the oversized value's bytes in `src`; true once it has ended.
    fn discard(&mut self, src: &mut BytesMut) -> bool {
        self.discarding_progress(src);
        self.discarding.is_none()
    }

    /// Discards what `src` holds of the oversized value and returns how many
    /// of its bytes have gone in all.
    fn discarding_progress(&mut self, src: &mut BytesMut) -> u64 {
        let discarded = self.discarding.unwrap_or(0);
        match self.scanner.feed(src) {
            Some(len) => {
                src.advance(len);
                self.discarding = None;
                discarded + len as u64
            }
            None => {
                let total = discarded + src.len() as u64;
                src.clear();
                self.discarding = Some(total);
                total
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` to a fresh decoder in pieces of `chunk` bytes and
    /// returns the frames and the bytes the scanner looked at.
    fn decode_in_chunks(input: &[u8], chunk: usize, max: usize) -> (Vec<JsonFrame>, u64) {
        let mut decoder = StreamDecoder::new(max);
        let mut src = BytesMut::new();
        let mut frames = Vec::new();
        for piece in input.chunks(chunk) {
            src.extend_from_slice(piece);
            while let Some(frame) = decoder.decode(&mut src, max) {
                frames.push(frame);
            }
        }
        while let Some(frame) = decoder.decode_eof(&mut src, max).unwrap() {
            frames.push(frame);
        }
        (frames, decoder.scanner.steps)
    }

    fn nested(depth: usize) -> Vec<u8> {
        let mut value = vec![b'['; depth];
        value.extend(std::iter::repeat_n(b']', depth));
        value
    }

    /// A 16 MiB object of many small strings, numbers and nested arrays.
    fn big_object() -> Vec<u8> {
        let mut value = b"{".to_vec();
        let mut i = 0;
        while value.len() < 16 * 1024 * 1024 {
            value.extend_from_slice(format!(r#""k{i}":["a\"b\\",{i},{{"x":"}}]"}}],"#).as_bytes());
            i += 1;
        }
        value.extend_from_slice(br#""end":null}"#);
        value
    }

    #[test]
    fn each_byte_is_scanned_once_however_the_input_is_split() {
        let value = big_object();
        let max = 32 * 1024 * 1024;
        for chunk in [1, 7, 4096, 65_536, value.len()] {
            let (frames, steps) = decode_in_chunks(&value, chunk, max);
            assert_eq!(
                frames,
                [JsonFrame::Value(value.clone().into())],
                "chunk {chunk}"
            );
            assert_eq!(steps, value.len() as u64, "chunk {chunk}");
        }
    }

    #[test]
    fn an_oversized_value_is_scanned_once_while_discarded() {
        let value = big_object();
        let max = 1024 * 1024;
        let (frames, steps) = decode_in_chunks(&value, 4096, max);
        // Reported when the read that crossed the limit arrived, with all of
        // the value that read brought.
        let received = (max / 4096 + 1) * 4096;
        assert_eq!(
            frames,
            [JsonFrame::TooLarge(
                FrameTooLarge::new(max, received as u64),
                bytes::Bytes::copy_from_slice(&value[..crate::codec::json::HEAD_LEN])
            )]
        );
        assert_eq!(steps, value.len() as u64);
    }

    #[test]
    fn many_values_cost_one_step_per_byte_of_value() {
        let input = b"{\"a\":1} [2] \"three\" 4 true null{}[]";
        let value_bytes = input.iter().filter(|&&b| b != b' ').count();
        let (frames, steps) = decode_in_chunks(input, 1, 1024);
        assert_eq!(frames.len(), 8);
        assert_eq!(steps, value_bytes as u64);
    }

    #[test]
    fn bracket_kinds_are_remembered_across_words_of_the_stack() {
        // 130 levels span three words; the mismatch is at the deepest.
        let mut value = Vec::new();
        for level in 0..130 {
            value.push(if level % 3 == 0 { b'{' } else { b'[' });
        }
        let mut closers: Vec<u8> = value
            .iter()
            .rev()
            .map(|&open| if open == b'{' { b'}' } else { b']' })
            .collect();
        let mut scanner = Scanner::new(usize::MAX);
        let mut balanced = value.clone();
        balanced.extend_from_slice(&closers);
        assert_eq!(scanner.feed(&balanced), Some(balanced.len()));

        // The innermost (level 129, `{`) closed by `]`: the value ends there.
        closers[0] = b']';
        let mut mismatched = value.clone();
        mismatched.extend_from_slice(&closers);
        assert_eq!(scanner.feed(&mismatched), Some(131));
        // And the scanner is ready for the next value.
        assert_eq!(scanner.feed(b"[]"), Some(2));
    }

    #[test]
    fn depth_beyond_the_tracked_levels_costs_no_memory() {
        let mut scanner = Scanner::new(128);
        let opening = vec![b'['; 1 << 20];
        assert_eq!(scanner.feed(&opening), None);
        assert!(scanner.kinds.len() <= 2, "{} words", scanner.kinds.len());
        // Untracked levels accept either closer; tracked ones still check.
        let mut closing = vec![b'}'; (1 << 20) - 128];
        closing.extend_from_slice(b"]]}");
        assert_eq!(scanner.feed(&closing), Some(closing.len()));
    }

    #[test]
    fn a_deeply_nested_stack_is_released_after_its_value() {
        let mut scanner = Scanner::new(usize::MAX);
        let value = nested(1 << 20);
        assert_eq!(scanner.feed(&value[..1 << 20]), None);
        // Debug leaves the stack out.
        assert!(format!("{scanner:?}").len() < 100, "{scanner:?}");
        assert_eq!(scanner.feed(&value[1 << 20..]), Some(1 << 20));
        assert_eq!(scanner.kinds.capacity(), 0);
        let small = nested(100);
        assert_eq!(scanner.feed(&small), Some(small.len()));
        assert_eq!(scanner.kinds.len(), 2);
    }

    #[test]
    fn a_top_level_scalar_ends_before_the_byte_that_ends_it() {
        for (input, end) in [
            (&b"123 "[..], Some(3)),
            (b"true,", Some(4)),
            (b"null:", Some(4)),
            (b"1.5e3{", Some(5)),
            (b"-2[", Some(2)),
            (b"x]", Some(1)),
            (b"hello\"", Some(5)),
            (b"nul", None),
        ] {
            assert_eq!(Scanner::new(64).feed(input), end, "{input:?}");
        }
    }

    /// The scanner's rules one byte at a time, as plainly as they can be
    /// written: what the fast loops must agree with.
    struct Reference {
        lex: Lex,
        /// Kinds of the open brackets (true for `{`), all levels.
        open: Vec<bool>,
        tracked: usize,
    }

    impl Reference {
        fn feed(&mut self, input: &[u8]) -> Option<usize> {
            for (i, &byte) in input.iter().enumerate() {
                let class = CLASS[byte as usize];
                let done = match self.lex {
                    Lex::Start => match class {
                        PLAIN => {
                            self.lex = Lex::Scalar;
                            false
                        }
                        QUOTE => {
                            self.lex = Lex::String;
                            false
                        }
                        OPEN => {
                            self.open.push(byte == b'{');
                            self.lex = Lex::Structure;
                            false
                        }
                        _ => true,
                    },
                    Lex::Scalar if class != PLAIN => {
                        self.lex = Lex::Start;
                        return Some(i);
                    }
                    Lex::Scalar => false,
                    Lex::String if byte == b'\\' => {
                        self.lex = Lex::Escape;
                        false
                    }
                    Lex::String if byte == b'"' => {
                        self.lex = Lex::Structure;
                        self.open.is_empty()
                    }
                    Lex::String => false,
                    Lex::Escape => {
                        self.lex = Lex::String;
                        false
                    }
                    Lex::Structure => match class {
                        QUOTE => {
                            self.lex = Lex::String;
                            false
                        }
                        OPEN => {
                            self.open.push(byte == b'{');
                            false
                        }
                        CLOSE => {
                            let opened_object = self.open.pop().unwrap();
                            let matched =
                                self.open.len() >= self.tracked || opened_object == (byte == b'}');
                            !matched || self.open.is_empty()
                        }
                        _ => false,
                    },
                };
                if done {
                    self.lex = Lex::Start;
                    self.open.clear();
                    return Some(i + 1);
                }
            }
            None
        }
    }

    proptest::proptest! {
        /// Bytes that matter to the scanner, dense, in random pieces, with a
        /// few tracked levels: every call ends where the reference's does.
        #[test]
        fn the_scanner_agrees_with_a_byte_at_a_time_reference(
            input in proptest::collection::vec(
                proptest::sample::select(&b"{}[]\"\\\\,: \na1\xff"[..]),
                0..600,
            ),
            pieces in proptest::collection::vec(1..40_usize, 1..30),
            tracked in 0..6_usize,
        ) {
            let mut scanner = Scanner::new(tracked);
            let mut reference = Reference { lex: Lex::Start, open: Vec::new(), tracked };
            let mut rest = &input[..];
            let mut sizes = pieces.iter().cycle();
            while !rest.is_empty() {
                let (mut piece, tail) = rest.split_at((*sizes.next().unwrap()).min(rest.len()));
                rest = tail;
                loop {
                    let (got, want) = (scanner.feed(piece), reference.feed(piece));
                    proptest::prop_assert_eq!(got, want);
                    match got {
                        Some(n) => piece = &piece[n..],
                        None => break,
                    }
                }
            }
        }
    }

    #[test]
    fn an_escape_split_from_its_backslash_is_still_an_escape() {
        let mut scanner = Scanner::new(64);
        assert_eq!(scanner.feed(br#"["a\"#), None);
        assert_eq!(scanner.feed(br#""]"#), None);
        assert_eq!(scanner.feed(br#"",1]"#), Some(4));
    }
}
