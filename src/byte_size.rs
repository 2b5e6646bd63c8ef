//! Parsing human-written byte sizes (`512M`, `2G`, `1.5GiB`, `4096`) for options such as the
//! memory limit. Pure text handling: it never touches the system.

/// Why a byte size could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size `{text}`: {reason}; write a number with an optional unit, e.g. 512M or 2G")]
pub struct ByteSizeError {
    text: String,
    reason: &'static str,
}

/// Parses `text` as a number of bytes, with an optional binary unit: `K`, `M`, `G`, `T`
/// (optionally followed by `B` or `iB`, in any case). Fractions are allowed with a unit.
pub fn parse_byte_size(text: &str) -> Result<usize, ByteSizeError> {
    let error = |reason| ByteSizeError {
        text: text.to_string(),
        reason,
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let multiplier: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(error("unknown unit")),
    };
    if number.is_empty() {
        return Err(error("no number"));
    }
    let bytes = if multiplier == 1 {
        number
            .parse::<u64>()
            .map_err(|_| error("a plain byte count must be a whole number"))?
    } else {
        let value: f64 = number.parse().map_err(|_| error("not a number"))?;
        let bytes = value * multiplier as f64;
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(error("too large"));
        }
        bytes as u64
    };
    usize::try_from(bytes).map_err(|_| error("too large for this machine"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_binary_and_case_insensitive() {
        assert_eq!(parse_byte_size("4096"), Ok(4096));
        assert_eq!(parse_byte_size("1k"), Ok(1024));
        assert_eq!(parse_byte_size("512M"), Ok(512 << 20));
        assert_eq!(parse_byte_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_byte_size("1.5 gb"), Ok(3 << 29));
        assert_eq!(parse_byte_size("1T"), Ok(1 << 40));
    }

    #[test]
    fn nonsense_is_rejected_with_a_reason() {
        for text in ["", "G", "12X", "1.5", "-3M", "1e9999G"] {
            let error = parse_byte_size(text).unwrap_err().to_string();
            assert!(error.contains("invalid size"), "{text}: {error}");
        }
    }
}
