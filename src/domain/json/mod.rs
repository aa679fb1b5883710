//! One document, one meaning: the checks every JSON body passes before it
//! is read. serde_json keeps the last of two members with the same name,
//! and a double cannot tell `1` from `1.0000000000000000001`; an executor
//! that keeps the first name, or reads numbers exactly, would then act on
//! something other than what the gate judged and the digest covers.
//!
//! [`check`] walks the raw bytes (already known to be valid JSON) and
//! refuses, naming the path (`proposals[0].action`):
//! - a member name twice in one object (after unescaping: `"a"` and
//!   `"\u0061"` are the same name);
//! - what I-JSON (RFC 7493), which RFC 8785 assumes, forbids: numbers
//!   outside ±(2^53−1) however written (past 2^53 a double is always a whole
//!   number, and not every whole number is a double), numbers with more
//!   precision than a double (their text is not the double's shortest form,
//!   read as a decimal), and lone surrogates in `\u` escapes.

use std::collections::HashSet;

/// The largest integer a double holds exactly, and its neighbours.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonProblem {
    #[error("{path}: the member name `{name}` appears twice; a document must have one meaning")]
    Duplicate { path: String, name: String },
    #[error("{path}: {message}")]
    NotIJson { path: String, message: String },
    #[error("not valid JSON at byte {0}")]
    Syntax(usize),
}

impl JsonProblem {
    pub fn path(&self) -> Option<&str> {
        match self {
            JsonProblem::Duplicate { path, .. } | JsonProblem::NotIJson { path, .. } => Some(path),
            JsonProblem::Syntax(_) => None,
        }
    }
}

/// Deeper nesting is a syntax error here (serde_json stops at 128 too).
pub const MAX_DEPTH: usize = 128;

/// Checks a JSON text (see the module docs). Anything that is not JSON is a
/// [`JsonProblem::Syntax`]; so is nesting deeper than [`MAX_DEPTH`], which
/// also bounds this walk's stack.
pub fn check(bytes: &[u8]) -> Result<(), JsonProblem> {
    let mut s = Scanner {
        b: bytes,
        i: 0,
        path: Vec::new(),
    };
    s.ws();
    s.value()?;
    s.ws();
    if s.i != s.b.len() {
        return Err(JsonProblem::Syntax(s.i));
    }
    Ok(())
}

enum Seg {
    Key(String),
    Index(usize),
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    path: Vec<Seg>,
}

impl Scanner<'_> {
    fn path(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            match seg {
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.extend(k.escape_debug());
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if out.is_empty() {
            "(body)".to_owned()
        } else {
            out
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), JsonProblem> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(JsonProblem::Syntax(self.i))
        }
    }

    fn value(&mut self) -> Result<(), JsonProblem> {
        if self.path.len() > MAX_DEPTH {
            return Err(JsonProblem::Syntax(self.i));
        }
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(JsonProblem::Syntax(self.i)),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonProblem> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(JsonProblem::Syntax(self.i))
        }
    }

    fn object(&mut self) -> Result<(), JsonProblem> {
        self.expect(b'{')?;
        let mut seen = HashSet::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            let name = self.string()?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            if !seen.insert(name.clone()) {
                return Err(JsonProblem::Duplicate {
                    path: {
                        self.path.push(Seg::Key(name.clone()));
                        let p = self.path();
                        self.path.pop();
                        p
                    },
                    name: name.escape_debug().to_string(),
                });
            }
            self.path.push(Seg::Key(name));
            self.value()?;
            self.path.pop();
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(JsonProblem::Syntax(self.i)),
            }
        }
    }

    fn array(&mut self) -> Result<(), JsonProblem> {
        self.expect(b'[')?;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        let mut index = 0;
        loop {
            self.ws();
            self.path.push(Seg::Index(index));
            self.value()?;
            self.path.pop();
            index += 1;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(JsonProblem::Syntax(self.i)),
            }
        }
    }

    fn hex4(&mut self) -> Result<u16, JsonProblem> {
        let digits = self
            .b
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u16::from_str_radix(h, 16).ok())
            .ok_or(JsonProblem::Syntax(self.i))?;
        self.i += 4;
        Ok(digits)
    }

    fn lone_surrogate(&self, unit: u16) -> JsonProblem {
        JsonProblem::NotIJson {
            path: self.path(),
            message: format!(
                "the escape \\u{unit:04x} is half of a surrogate pair with no other half (I-JSON forbids it)"
            ),
        }
    }

    /// A string, unescaped.
    fn string(&mut self) -> Result<String, JsonProblem> {
        self.expect(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek().ok_or(JsonProblem::Syntax(self.i))?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or(JsonProblem::Syntax(self.i))?;
                    self.i += 1;
                    let simple = match e {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(0x08),
                        b'f' => Some(0x0c),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'u' => None,
                        _ => return Err(JsonProblem::Syntax(self.i)),
                    };
                    if let Some(byte) = simple {
                        out.push(byte);
                        continue;
                    }
                    let unit = self.hex4()?;
                    let ch = match unit {
                        0xD800..=0xDBFF => {
                            if !self.b[self.i..].starts_with(b"\\u") {
                                return Err(self.lone_surrogate(unit));
                            }
                            self.i += 2;
                            let low = self.hex4()?;
                            if !(0xDC00..=0xDFFF).contains(&low) {
                                return Err(self.lone_surrogate(unit));
                            }
                            let code = 0x10000
                                + ((u32::from(unit) - 0xD800) << 10)
                                + (u32::from(low) - 0xDC00);
                            char::from_u32(code).ok_or_else(|| self.lone_surrogate(unit))?
                        }
                        0xDC00..=0xDFFF => return Err(self.lone_surrogate(unit)),
                        _ => char::from_u32(u32::from(unit)).ok_or(JsonProblem::Syntax(self.i))?,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| JsonProblem::Syntax(self.i))
    }

    fn number(&mut self) -> Result<(), JsonProblem> {
        let start = self.i;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.i += 1;
        }
        let text =
            std::str::from_utf8(&self.b[start..self.i]).map_err(|_| JsonProblem::Syntax(start))?;
        number_problem(text).map_or(Ok(()), |message| {
            Err(JsonProblem::NotIJson {
                path: self.path(),
                message,
            })
        })
    }
}

/// Why a JSON number's text is not I-JSON, if it is not.
pub fn number_problem(text: &str) -> Option<String> {
    let integral = !text.contains(['.', 'e', 'E']);
    if integral {
        let digits = text.trim_start_matches('-');
        let fits = digits.len() <= 16 && digits.parse::<u64>().is_ok_and(|n| n <= MAX_SAFE_INTEGER);
        return (!fits).then(|| {
            format!("the integer {text} is outside ±(2^53−1), which a double cannot hold exactly (I-JSON)")
        });
    }
    let Ok(value) = text.parse::<f64>() else {
        return Some(format!("{text} is not a number"));
    };
    if !value.is_finite() {
        return Some(format!("{text} is beyond the range of a double (I-JSON)"));
    }
    // Past 2^53 every double is a whole number, and not every whole number
    // is a double: one range for every number, however it is written
    // (`1e20` is the integer 10^20 to JSON Schema and to most parsers).
    if value.abs() > MAX_SAFE_INTEGER as f64 {
        return Some(format!(
            "{text} is outside ±(2^53−1), where a double holds every whole number (I-JSON)"
        ));
    }
    // Rust prints a double in its shortest round-trip form; a text that is
    // a different decimal carries precision the double (and the digest)
    // does not see.
    // Two texts of the same length can both be shortest (ryu and Rust's
    // formatter may break a tie differently): what is refused is a text
    // with more significant digits than the shortest.
    if decimal(text).1.len() > decimal(&value.to_string()).1.len() {
        return Some(format!(
            "{text} has more precision than a double; it would be read as {value} (I-JSON)"
        ));
    }
    None
}

/// A decimal number's value as (negative, significant digits, exponent of
/// the last digit); zero is (false, "0", 0).
fn decimal(text: &str) -> (bool, String, i64) {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: String = format!("{int}{frac}");
    let mut exp = exp - frac.len() as i64;
    let trimmed = digits.trim_start_matches('0').to_owned();
    digits = trimmed;
    while digits.ends_with('0') {
        digits.pop();
        exp += 1;
    }
    if digits.is_empty() {
        return (false, "0".to_owned(), 0);
    }
    (negative, digits, exp)
}

#[cfg(test)]
mod tests;
