//! OpenSSL's traditional PEM encryption of a private key:
//!
//! ```text
//! -----BEGIN RSA PRIVATE KEY-----
//! Proc-Type: 4,ENCRYPTED
//! DEK-Info: AES-256-CBC,<IV in hex>
//!
//! <base64 of the CBC-encrypted, PKCS#7-padded DER key>
//! -----END RSA PRIVATE KEY-----
//! ```
//! The key is OpenSSL's `EVP_BytesToKey` with MD5, one iteration, and the first 8 IV
//! bytes as salt: `D1 = MD5(pass ‖ salt)`, `Di = MD5(Di-1 ‖ pass ‖ salt)`, key = the
//! first key-length bytes of `D1 ‖ D2 ‖ …`.

use aes::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use md5::{Digest, Md5};

use crate::keys::KeyError;

/// The parsed headers and the still-encrypted body of such a block.
pub(crate) struct EncryptedPem {
    cipher: String,
    iv: Vec<u8>,
    body: Vec<u8>,
}

fn bad(reason: impl Into<String>) -> KeyError {
    KeyError::Pem {
        label: "RSA PRIVATE KEY".to_string(),
        offset: 0,
        reason: reason.into(),
    }
}

/// Parse a whole `-----BEGIN … -----END …-----` block that carries the headers.
pub(crate) fn parse(label: &str, text: &[u8]) -> Result<EncryptedPem, KeyError> {
    let text = std::str::from_utf8(text).map_err(|_| bad("not ASCII"))?;
    let mut lines = text.lines().map(str::trim).skip(1); // BEGIN line
    let mut dek = None;
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("DEK-Info:") {
            dek = Some(v.trim().to_string());
        }
    }
    let dek = dek.ok_or_else(|| bad("encrypted PEM block without a DEK-Info header"))?;
    let (cipher, iv_hex) = dek
        .split_once(',')
        .ok_or_else(|| bad(format!("DEK-Info \"{dek}\" is not CIPHER,IV")))?;
    let iv = hex::decode(iv_hex.trim()).map_err(|_| bad("DEK-Info IV is not hex"))?;
    let end = format!("-----END {label}-----");
    let b64: String = lines.take_while(|l| *l != end).collect();
    // Re-wrap as a header-less PEM block so the strict RFC 7468 decoder reads it.
    let mut wrapped = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        wrapped.push_str(&String::from_utf8_lossy(chunk));
        wrapped.push('\n');
    }
    wrapped.push_str(&end);
    wrapped.push('\n');
    let (_, body) = der::pem::decode_vec(wrapped.as_bytes()).map_err(|e| bad(e.to_string()))?;
    Ok(EncryptedPem {
        cipher: cipher.trim().to_ascii_uppercase(),
        iv,
        body,
    })
}

fn bytes_to_key(pass: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    let mut prev: Vec<u8> = Vec::new();
    while out.len() < len {
        let mut h = Md5::new();
        h.update(&prev);
        h.update(pass);
        h.update(salt);
        prev = h.finalize().to_vec();
        out.extend_from_slice(&prev);
    }
    out.truncate(len);
    out
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], body: &[u8]) -> Result<Vec<u8>, KeyError>
where
    cbc::Decryptor<C>: KeyIvInit + BlockModeDecrypt,
    C: aes::cipher::BlockCipherDecrypt,
{
    let dec = cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| bad("DEK-Info IV has the wrong length for the cipher"))?;
    let mut buf = body.to_vec();
    let plain = dec
        .decrypt_padded::<Pkcs7>(&mut buf)
        .map_err(|_| KeyError::Decrypt {
            reason: "bad padding after decryption".to_string(),
        })?;
    Ok(plain.to_vec())
}

impl EncryptedPem {
    /// Decrypt to the DER key.
    pub(crate) fn decrypt(&self, pass: &[u8]) -> Result<Vec<u8>, KeyError> {
        let salt = self
            .iv
            .get(..8)
            .ok_or_else(|| bad("DEK-Info IV is shorter than 8 bytes"))?;
        let (iv, body) = (&self.iv[..], &self.body[..]);
        match self.cipher.as_str() {
            "AES-128-CBC" => cbc_decrypt::<aes::Aes128>(&bytes_to_key(pass, salt, 16), iv, body),
            "AES-192-CBC" => cbc_decrypt::<aes::Aes192>(&bytes_to_key(pass, salt, 24), iv, body),
            "AES-256-CBC" => cbc_decrypt::<aes::Aes256>(&bytes_to_key(pass, salt, 32), iv, body),
            "DES-EDE3-CBC" => cbc_decrypt::<des::TdesEde3>(&bytes_to_key(pass, salt, 24), iv, body),
            other => Err(KeyError::Decrypt {
                reason: format!(
                    "PEM cipher {other} is not supported (AES-128/192/256-CBC, DES-EDE3-CBC are)"
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_to_key_matches_openssl() {
        // `openssl enc -aes-256-cbc -pass pass:secret -S 0102030405060708 -md md5 -P`
        // prints the 32-byte key and then the next 16 derived bytes as the IV.
        let derived = bytes_to_key(b"secret", &[1, 2, 3, 4, 5, 6, 7, 8], 48);
        assert_eq!(
            hex::encode_upper(derived),
            "C9E5A1BD216DBE1317E230CEF48F38EE7F0E17AD64022144BCCEC4A1AA2879AB\
             E24B32BBBC4EF02ECBCB6576523AD893"
        );
    }
}
