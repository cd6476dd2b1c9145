//! The one textual form of a SHA-256 digest on the wire: `sha256:<64 lowercase hex digits>`.

use sha2::{Digest, Sha256};

/// Prefix that names the algorithm of every digest Convoy writes.
pub const SHA256_PREFIX: &str = "sha256:";

/// Lowercase hex SHA-256 of `bytes`, without prefix (the form registries use for `cksum`).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for byte in hash.iter() {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// `sha256:<hex>` of `bytes`: the form used for file hashes and the plan digest.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("{SHA256_PREFIX}{}", sha256_hex(bytes))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        assert_eq!(
            sha256_digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
