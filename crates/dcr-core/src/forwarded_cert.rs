//! The client certificate a TLS-terminating gateway forwards in a request header (gateway mode:
//! the gateway does the RFC 8705 §2 mutual TLS and passes the certificate on), read from the
//! forms gateways send. Reading only: the caller verifies the chain against the client CA and
//! the time before it trusts the certificate.

use base64::Engine as _;
use rustls_pki_types::CertificateDer;

/// Most bytes of a forwarded certificate header that are decoded (a chain of a few certificates
/// fits several times over).
pub const MAX_FORWARDED_CERT_LEN: usize = 32 * 1024;

/// The certificates a gateway forwards, leaf first, in any of the forms gateways send: a
/// URL-encoded PEM (nginx `$ssl_client_escaped_cert`), a plain PEM (one or more certificates),
/// base64 DER (HAProxy `%[ssl_c_der,base64]`), or Envoy's `x-forwarded-client-cert`, whose last
/// element (the nearest proxy's) carries the URL-encoded PEM in `Cert="..."`. Nothing is
/// verified here.
///
/// `None` when the header is longer than [`MAX_FORWARDED_CERT_LEN`] or holds none of these forms.
///
/// # Security
/// The header is attacker-controlled unless it comes from a trusted proxy, and even then the
/// result is only bytes: verify the chain before using it.
#[must_use]
pub fn decode_forwarded_chain(raw: &str) -> Option<Vec<CertificateDer<'static>>> {
    if raw.len() > MAX_FORWARDED_CERT_LEN {
        return None;
    }
    let raw = xfcc_cert(raw).unwrap_or(raw);
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?;
    let text = decoded.trim();
    if text.contains("-----BEGIN CERTIFICATE-----") {
        let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut text.as_bytes())
            .collect::<Result<_, _>>()
            .ok()?;
        // An empty block is not a certificate: the chain is malformed.
        return (!chain.is_empty() && chain.iter().all(|c| !c.is_empty())).then_some(chain);
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(text.replace([' ', '\n'], ""))
        .ok()?;
    // A header that decodes to nothing (`%20`, an empty `Cert=""`) holds no certificate.
    (!der.is_empty()).then(|| vec![CertificateDer::from(der)])
}

/// The `Cert="..."` value of the last element of an Envoy `x-forwarded-client-cert` header.
fn xfcc_cert(raw: &str) -> Option<&str> {
    let last = raw.rsplit(',').next()?;
    last.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        k.eq_ignore_ascii_case("cert").then(|| v.trim_matches('"'))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A client certificate and the CA that issued it (P-256, made with `openssl`; test-only).
    const CLIENT_PEM: &str = include_str!("../tests/fixtures/forwarded-client.pem");
    const CA_PEM: &str = include_str!("../tests/fixtures/forwarded-ca.pem");

    fn der(pem: &str) -> Vec<u8> {
        rustls_pemfile::certs(&mut pem.as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .to_vec()
    }

    fn escaped(s: &str) -> String {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    #[test]
    fn forwarded_certificates_decode_in_every_form() {
        let client = der(CLIENT_PEM);
        let leaf = |raw: &str| decode_forwarded_chain(raw).map(|chain| chain[0].to_vec());
        assert_eq!(
            leaf(&escaped(CLIENT_PEM)).unwrap(),
            client,
            "URL-encoded PEM"
        );
        assert_eq!(leaf(CLIENT_PEM).unwrap(), client, "PEM");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&client);
        assert_eq!(leaf(&b64).unwrap(), client, "base64 DER");
        let xfcc = format!(
            "By=spiffe://a;Hash=00,By=spiffe://dh;Hash=11;Cert=\"{}\";Subject=\"CN=c\"",
            escaped(CLIENT_PEM)
        );
        assert_eq!(leaf(&xfcc).unwrap(), client, "Envoy XFCC, last element");
        let chain = format!("{CLIENT_PEM}{CA_PEM}");
        let decoded = decode_forwarded_chain(&chain).unwrap();
        assert_eq!(decoded.len(), 2, "a chain");
        assert_eq!(decoded[1].to_vec(), der(CA_PEM), "the issuer second");
        assert!(leaf("%%%not a cert").is_none());
        assert!(
            leaf(&"A".repeat(MAX_FORWARDED_CERT_LEN + 4)).is_none(),
            "too long"
        );
    }

    #[test]
    fn a_header_that_decodes_to_nothing_holds_no_certificate() {
        for raw in ["", "%20", " %0A ", "By=a;Cert=\"\"", "Cert=%20"] {
            assert_eq!(decode_forwarded_chain(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn a_pem_chain_with_an_empty_block_is_refused() {
        let empty = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
        assert_eq!(decode_forwarded_chain(empty), None, "alone");
        let chain = format!("{CLIENT_PEM}{empty}");
        assert_eq!(decode_forwarded_chain(&chain), None, "after a certificate");
    }
}
