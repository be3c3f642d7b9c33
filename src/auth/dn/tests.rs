use super::x509::read_element;
use super::*;

fn cert_with(dn: rcgen::DistinguishedName) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn;
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

/// A certificate whose subject is, in sequence order, `rdns`.
fn cert(rdns: &[(rcgen::DnType, &str)]) -> Vec<u8> {
    let mut dn = rcgen::DistinguishedName::new();
    for (ty, value) in rdns {
        dn.push(ty.clone(), *value);
    }
    cert_with(dn)
}

fn matches(dn: &str, der: &[u8]) -> bool {
    SubjectDn::parse(dn).unwrap().matches_certificate(der)
}

#[test]
fn rfc_4514_writes_the_rdns_last_first() {
    use rcgen::DnType::{CommonName, OrganizationName};
    let der = cert(&[(OrganizationName, "test"), (CommonName, "m1")]);
    assert!(matches("CN=m1,O=test", &der));
    assert!(!matches("O=test,CN=m1", &der), "another order");
    assert!(!matches("CN=m1", &der), "a missing RDN");
    assert!(!matches("CN=m1,O=test,C=DE", &der), "an extra RDN");
    assert!(!matches("CN=m2,O=test", &der));
    assert!(!matches("CN=m1,OU=test", &der), "another attribute type");
}

#[test]
fn case_ignoring_attributes_fold_case_and_spaces_and_others_are_exact() {
    use rcgen::DnType::{CommonName, CustomDnType, OrganizationName};
    let der = cert(&[(OrganizationName, "Test  Org"), (CommonName, "M1")]);
    assert!(matches("cn=m1, o= test org ", &der));
    assert!(matches("CN=M1,O=Test Org", &der));
    assert!(!matches("CN=M1,O=TestOrg", &der));
    let custom = CustomDnType(vec![1, 3, 6, 1, 4, 1, 99999, 1]);
    let der = cert(&[(custom, "Value")]);
    assert!(matches("1.3.6.1.4.1.99999.1=Value", &der));
    assert!(
        !matches("1.3.6.1.4.1.99999.1=value", &der),
        "unknown: exact"
    );
}

#[test]
fn escapes_hex_values_and_multi_valued_rdns() {
    use rcgen::DnType::CommonName;
    let der = cert(&[(CommonName, "a,b+c \"d\"")]);
    assert!(matches(r#"CN=a\,b\+c \"d\""#, &der));
    assert!(matches(r"CN=a\2cb\2bc \22d\22", &der));
    // UTF8String "m1": 0c 02 6d 31
    let der = cert(&[(CommonName, "m1")]);
    assert!(matches("CN=#0c026d31", &der));
    assert!(
        !matches("CN=#13026d31", &der),
        "PrintableString is another encoding"
    );
    // rcgen writes one AVA per RDN; a multi-valued RDN needs a hand-made name.
    let cn_a = [0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x01, b'a'];
    let uid_b = [
        0x30, 0x0f, 0x06, 0x0a, 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01, 0x0c,
        0x01, b'b',
    ];
    let mut set = vec![0x31, (cn_a.len() + uid_b.len()) as u8];
    set.extend(cn_a);
    set.extend(uid_b);
    let rdns = vec![avas_of(&set)];
    let dn = |text| SubjectDn::parse(text).unwrap();
    assert!(dn("CN=a+UID=b").matches(&rdns));
    assert!(dn("UID=b+CN=a").matches(&rdns), "a set: any order");
    assert!(!dn("CN=a").matches(&rdns));
    assert!(!dn("CN=a,UID=b").matches(&rdns), "two RDNs are not one");
}

fn avas_of(set: &[u8]) -> Vec<CertAva<'_>> {
    let (_, mut content, _) = read_element(set).unwrap();
    let mut avas = Vec::new();
    while !content.is_empty() {
        let (_, ava, rest) = read_element(content).unwrap();
        content = rest;
        let (_, oid, value) = read_element(ava).unwrap();
        let (tag, body, _) = read_element(value).unwrap();
        avas.push(CertAva {
            oid,
            element: value,
            tag,
            content: body,
        });
    }
    avas
}

#[test]
fn malformed_strings_and_certificates_are_refused() {
    for bad in [
        "",
        "CN",
        "CN=",
        "=x",
        "XX=y",
        "CN=a,",
        "CN=a\"b",
        "CN=\\zz",
        "CN=#zz",
        "CN=#0c05ab",
        "3.1=x",
        "01.2=x",
        "1.40=x",
    ] {
        assert!(SubjectDn::parse(bad).is_err(), "{bad:?}");
    }
    let dn = SubjectDn::parse("CN=x").unwrap();
    assert!(!dn.matches_certificate(b""));
    assert!(!dn.matches_certificate(&[0x30, 0x82, 0xff]));
}

#[test]
fn oids_encode_as_der_does() {
    assert_eq!(encode_oid("2.5.4.3"), Some(vec![0x55, 0x04, 0x03]));
    assert_eq!(
        encode_oid("1.2.840.113549.1.9.1"),
        Some(vec![0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01])
    );
}
