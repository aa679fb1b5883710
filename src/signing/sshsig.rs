//! The SSHSIG envelope (OpenSSH PROTOCOL.sshsig) read and written here, so
//! that its public key may be a certificate (PROTOCOL.certkeys): what
//! `ssh-keygen -Y sign -f key-cert.pub` makes, and what the console makes
//! when a certificate lies beside the person's key.
//!
//! ```text
//! byte[6]  "SSHSIG"
//! uint32   1
//! string   publickey        (a key or a certificate blob)
//! string   namespace
//! string   reserved
//! string   hash_algorithm   ("sha256" / "sha512")
//! string   signature
//! ```
//!
//! The signature covers neither the public key nor the certificate: what
//! binds a certificate to the signature is that it certifies the key that
//! verifies it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ssh_key::{Certificate, HashAlg, PublicKey, Signature, SshSig};

use super::SigError;

const MAGIC: &[u8] = b"SSHSIG";
const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";
/// How a certificate's key type ends (PROTOCOL.certkeys).
pub const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

/// A parsed envelope, not yet verified.
pub struct Envelope {
    /// The key whose signature this is: the certificate's key when there is
    /// a certificate.
    pub key: PublicKey,
    pub certificate: Option<Certificate>,
    /// The envelope as `ssh-key` verifies it (with `key`).
    pub sig: SshSig,
}

fn malformed(why: &str) -> SigError {
    SigError::Malformed(why.to_owned())
}

/// One SSH `string`.
fn string<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], SigError> {
    let (len, rest) = buf
        .split_first_chunk::<4>()
        .ok_or_else(|| malformed("truncated"))?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(malformed("truncated"));
    }
    let (s, rest) = rest.split_at(len);
    *buf = rest;
    Ok(s)
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) -> Result<(), SigError> {
    let len = u32::try_from(s.len()).map_err(|_| malformed("too long"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s);
    Ok(())
}

/// The base64 between the armor lines.
fn unarmor(armored: &str) -> Result<Vec<u8>, SigError> {
    let text = armored.trim();
    let body = text
        .strip_prefix(BEGIN)
        .and_then(|t| t.strip_suffix(END))
        .ok_or_else(|| malformed("missing the BEGIN/END SSH SIGNATURE lines"))?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(b64)
        .map_err(|e| SigError::Malformed(format!("bad base64: {e}")))
}

/// Reads an armored SSHSIG whose public key is a key or a certificate.
pub fn parse(armored: &str) -> Result<Envelope, SigError> {
    let bytes = unarmor(armored)?;
    let mut buf = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| malformed("not an SSHSIG (magic)"))?;
    let (version, rest) = buf
        .split_first_chunk::<4>()
        .ok_or_else(|| malformed("truncated"))?;
    if u32::from_be_bytes(*version) != 1 {
        return Err(malformed("SSHSIG version is not 1"));
    }
    buf = rest;
    let blob = string(&mut buf)?;
    let namespace = std::str::from_utf8(string(&mut buf)?)
        .map_err(|_| malformed("namespace is not UTF-8"))?
        .to_owned();
    let _reserved = string(&mut buf)?;
    let hash = std::str::from_utf8(string(&mut buf)?).map_err(|_| malformed("hash algorithm"))?;
    let hash_alg =
        HashAlg::new(hash).map_err(|_| SigError::Malformed(format!("hash algorithm `{hash}`")))?;
    let signature = Signature::try_from(string(&mut buf)?)
        .map_err(|e| SigError::Malformed(format!("signature: {e}")))?;
    if !buf.is_empty() {
        return Err(malformed("trailing bytes after the signature"));
    }
    let mut kind = blob;
    let kind = std::str::from_utf8(string(&mut kind)?).map_err(|_| malformed("key type"))?;
    let (key, certificate) = if kind.ends_with(CERT_SUFFIX) {
        let cert = Certificate::from_bytes(blob)
            .map_err(|e| SigError::Malformed(format!("certificate: {e}")))?;
        (PublicKey::from(cert.public_key().clone()), Some(cert))
    } else {
        let key = PublicKey::from_bytes(blob)
            .map_err(|e| SigError::Malformed(format!("public key: {e}")))?;
        (key, None)
    };
    let sig = SshSig::new(key.key_data().clone(), namespace, hash_alg, signature)
        .map_err(|e| SigError::Malformed(e.to_string()))?;
    Ok(Envelope {
        key,
        certificate,
        sig,
    })
}

/// `sig` armored, with `certificate` in place of its public key when
/// given (it must certify that key). Used for certificates and security
/// keys: `ssh-key` writes neither (a certificate cannot be its envelope's
/// key, and a P-256 security key's flags and counter land inside the
/// signature string).
pub fn armor(sig: &SshSig, certificate: Option<&Certificate>) -> Result<String, SigError> {
    let blob = match certificate {
        Some(cert) if cert.public_key() != sig.public_key() => {
            return Err(malformed("the certificate is for another key"));
        }
        Some(cert) => cert.to_bytes(),
        None => PublicKey::from(sig.public_key().clone()).to_bytes(),
    }
    .map_err(|e| SigError::Malformed(e.to_string()))?;
    let signature = signature_blob(sig.signature())?;
    let mut out = Vec::with_capacity(blob.len() + signature.len() + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut out, &blob)?;
    put_string(&mut out, sig.namespace().as_bytes())?;
    put_string(&mut out, sig.reserved())?;
    put_string(&mut out, sig.hash_alg().as_str().as_bytes())?;
    put_string(&mut out, &signature)?;
    let b64 = STANDARD.encode(&out);
    let mut text = String::with_capacity(b64.len() + 80);
    text.push_str(BEGIN);
    text.push('\n');
    for line in b64.as_bytes().chunks(70) {
        text.push_str(std::str::from_utf8(line).map_err(|_| malformed("base64"))?);
        text.push('\n');
    }
    text.push_str(END);
    text.push('\n');
    Ok(text)
}

/// The signature's wire form. `ssh-key` writes the FIDO trailer (flags,
/// counter) of an ed25519 security key outside the signature string but
/// not that of a P-256 one, so both are written here by PROTOCOL.u2f.
fn signature_blob(s: &Signature) -> Result<Vec<u8>, SigError> {
    let alg = s.algorithm();
    let name = alg.as_str().as_bytes().to_vec();
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + name.len() + 16);
    put_string(&mut out, &name)?;
    if matches!(
        alg,
        ssh_key::Algorithm::SkEd25519 | ssh_key::Algorithm::SkEcdsaSha2NistP256
    ) {
        let cut = bytes
            .len()
            .checked_sub(5)
            .ok_or_else(|| malformed("short security key signature"))?;
        put_string(&mut out, &bytes[..cut])?;
        out.extend_from_slice(&bytes[cut..]);
    } else {
        put_string(&mut out, bytes)?;
    }
    Ok(out)
}

/// The FIDO flags of a security key's signature (PROTOCOL.u2f: the byte
/// after the signature); `None` for other keys.
pub fn sk_flags(sig: &SshSig) -> Option<u8> {
    match sig.signature().algorithm() {
        ssh_key::Algorithm::SkEd25519 | ssh_key::Algorithm::SkEcdsaSha2NistP256 => {
            let b = sig.signature().as_bytes();
            b.len().checked_sub(5).map(|i| b[i])
        }
        _ => None,
    }
}

/// The user-presence flag of a FIDO signature: the key was touched.
pub const SK_USER_PRESENT: u8 = 0x01;

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::{Algorithm, LineEnding, PrivateKey};

    #[test]
    fn the_envelope_is_written_as_ssh_key_writes_it_and_read_back() {
        let key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519).unwrap();
        let sig = key.sign("ns", HashAlg::Sha512, b"msg").unwrap();
        let ours = armor(&sig, None).unwrap();
        assert_eq!(ours, sig.to_pem(LineEnding::LF).unwrap());
        let back = parse(&ours).unwrap();
        assert_eq!(back.key.key_data(), key.public_key().key_data());
        assert!(back.certificate.is_none());
        assert_eq!(back.sig.namespace(), "ns");
        for bad in [
            "",
            "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----",
            &ours.replace("U1NIU0lH", "U1NIU0lI"),
        ] {
            assert!(matches!(parse(bad), Err(SigError::Malformed(_))), "{bad}");
        }
    }
}
