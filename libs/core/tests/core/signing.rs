//! Ed25519: RFC 8032 §7.1 test vectors as facts, PEM and raw round trips, key
//! ids, strictness, batch verification, and robustness of every parser.

use proptest::prelude::*;
use tracechain_core::signing::{
    KeyError, KeyId, Signature, SigningKey, VerifyError, VerifyingKey, verify_batch,
};

struct Rfc8032Vector {
    secret: &'static str,
    public: &'static str,
    message: &'static str,
    signature: &'static str,
}

/// RFC 8032 §7.1, TEST 1, 2, 3 and TEST 1024 (a 1023-byte message).
const RFC8032_VECTORS: [Rfc8032Vector; 4] = [
    Rfc8032Vector {
        secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        message: "",
        signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
    Rfc8032Vector {
        secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        message: "72",
        signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    },
    Rfc8032Vector {
        secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        message: "af82",
        signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    },
    Rfc8032Vector {
        secret: "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        public: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        message: concat!(
            "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98",
            "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8",
            "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d",
            "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc",
            "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe",
            "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e",
            "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef",
            "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7",
            "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1",
            "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2",
            "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24",
            "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270",
            "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc",
            "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07",
            "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba",
            "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a",
            "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e",
            "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7",
            "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c",
            "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8",
            "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df",
            "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08",
            "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649",
            "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4",
            "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3",
            "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e",
            "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f",
            "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5",
            "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1",
            "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d",
            "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c",
            "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
        ),
        signature: "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    },
];

fn secret(hex: &str) -> SigningKey {
    SigningKey::from_slice(&hex::decode(hex).unwrap()).unwrap()
}

#[test]
fn rfc8032_test_vectors() {
    for vector in &RFC8032_VECTORS {
        let key = secret(vector.secret);
        let message = hex::decode(vector.message).unwrap();
        let public = key.verifying_key();
        assert_eq!(public.to_hex(), vector.public);
        let signature = key.sign(&message);
        assert_eq!(signature.to_hex(), vector.signature);
        public.verify_strict(&message, &signature).unwrap();
        public.verify(&message, &signature).unwrap();
        let parsed = Signature::from_hex(vector.signature).unwrap();
        VerifyingKey::from_hex(vector.public)
            .unwrap()
            .verify_strict(&message, &parsed)
            .unwrap();
        let mut tampered = message.clone();
        tampered.push(0);
        assert_eq!(
            public.verify_strict(&tampered, &signature),
            Err(VerifyError::Invalid)
        );
    }
    assert_eq!(hex::decode(RFC8032_VECTORS[3].message).unwrap().len(), 1023);
}

#[test]
fn key_id_is_sha256_prefix_and_stable() {
    let public = secret(RFC8032_VECTORS[0].secret).verifying_key();
    let id = public.key_id();
    let expected = {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(public.as_bytes())[..8])
    };
    assert_eq!(id.to_string(), expected);
    // Pinned: a change here would orphan every stored key id.
    assert_eq!(id.to_string(), "21fe31dfa154a261");
    assert_eq!(id.to_string().len(), 16);
    assert_eq!("21fe31dfa154a261".parse::<KeyId>().unwrap(), id);
    assert!("21FE31DFA154A261".parse::<KeyId>().is_err());
    assert!("21fe31dfa154a2".parse::<KeyId>().is_err());
    assert_eq!(serde_json::to_string(&id).unwrap(), "\"21fe31dfa154a261\"");
    assert_eq!(secret(RFC8032_VECTORS[0].secret).key_id(), id);
}

#[test]
fn pem_round_trips() {
    let key = SigningKey::generate();
    let pem = key.to_pkcs8_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let back = SigningKey::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(*back.to_bytes(), *key.to_bytes());

    let public = key.verifying_key();
    let pem = public.to_public_key_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert_eq!(VerifyingKey::from_public_key_pem(&pem).unwrap(), public);

    // RFC 8410 §10.3 example private key (its seed is not RFC 8032's).
    let rfc8410 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
    let key = SigningKey::from_pkcs8_pem(rfc8410).unwrap();
    assert_eq!(
        hex::encode(*key.to_bytes()),
        "d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842"
    );
    assert!(matches!(
        SigningKey::from_pkcs8_pem(&pem),
        Err(KeyError::InvalidPrivateKeyPem { .. })
    ));
    assert!(matches!(
        VerifyingKey::from_public_key_pem(rfc8410),
        Err(KeyError::InvalidPublicKeyPem { .. })
    ));
}

#[test]
fn raw_and_text_forms_round_trip() {
    let key = SigningKey::generate();
    assert_eq!(
        *SigningKey::from_bytes(&key.to_bytes()).to_bytes(),
        *key.to_bytes()
    );
    let public = key.verifying_key();
    assert_eq!(
        VerifyingKey::from_bytes(&public.to_bytes()).unwrap(),
        public
    );
    assert_eq!(
        VerifyingKey::from_base64(&public.to_base64()).unwrap(),
        public
    );
    assert_eq!(public.to_string().parse::<VerifyingKey>().unwrap(), public);
    let json = serde_json::to_string(&public).unwrap();
    assert_eq!(serde_json::from_str::<VerifyingKey>(&json).unwrap(), public);

    let signature = key.sign(b"scan");
    assert_eq!(Signature::from_bytes(&signature.to_bytes()), signature);
    assert_eq!(
        Signature::from_base64(&signature.to_base64()).unwrap(),
        signature
    );
    assert_eq!(Signature::from_hex(&signature.to_hex()).unwrap(), signature);
    let json = serde_json::to_string(&signature).unwrap();
    assert_eq!(serde_json::from_str::<Signature>(&json).unwrap(), signature);
    assert!(Signature::from_slice(&[0; 63]).is_err());
    assert!(SigningKey::from_slice(&[0; 31]).is_err());
}

#[test]
fn debug_never_prints_the_secret() {
    let key = secret(RFC8032_VECTORS[0].secret);
    let debug = format!("{key:?}");
    assert!(!debug.contains("9d61b19d"), "{debug}");
    assert!(debug.contains(&key.key_id().to_string()));
}

#[test]
fn weak_and_invalid_public_keys_are_refused() {
    // The identity point (small order).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        VerifyingKey::from_bytes(&identity),
        Err(KeyError::WeakPublicKey)
    );
    // y = 2 is not on the curve.
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    assert_eq!(
        VerifyingKey::from_bytes(&off_curve),
        Err(KeyError::InvalidPublicKey)
    );
}

#[test]
fn non_canonical_s_is_refused() {
    let key = secret(RFC8032_VECTORS[1].secret);
    let message = [0x72];
    let mut bytes = key.sign(&message).to_bytes();
    // S + L, where L is the group order: the same point equation, but S is no
    // longer reduced, a classic malleation.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(bytes[32 + i]) + u16::from(L[i]) + carry;
        bytes[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    let malleated = Signature::from_bytes(&bytes);
    assert!(
        key.verifying_key()
            .verify_strict(&message, &malleated)
            .is_err()
    );
    assert!(key.verifying_key().verify(&message, &malleated).is_err());
}

#[test]
fn batch_verification() {
    let keys: Vec<SigningKey> = (0..64).map(|_| SigningKey::generate()).collect();
    let messages: Vec<Vec<u8>> = (0..64u32)
        .map(|i| format!("event {i}").into_bytes())
        .collect();
    let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let mut signatures: Vec<Signature> =
        keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
    let publics: Vec<VerifyingKey> = keys.iter().map(SigningKey::verifying_key).collect();
    verify_batch(&message_refs, &signatures, &publics).unwrap();
    verify_batch(&[], &[], &[]).unwrap();

    signatures[17] = keys[17].sign(b"something else");
    assert_eq!(
        verify_batch(&message_refs, &signatures, &publics),
        Err(VerifyError::BatchInvalid)
    );
    assert_eq!(
        verify_batch(&message_refs[1..], &signatures, &publics),
        Err(VerifyError::BatchLengthMismatch {
            messages: 63,
            signatures: 64,
            keys: 64
        })
    );
}

proptest! {
    /// No byte string or text makes a parser panic.
    #[test]
    fn parsing_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..100), text in "\\PC{0,120}") {
        let _ = Signature::from_slice(&bytes);
        let _ = Signature::from_base64(&text);
        let _ = Signature::from_hex(&text);
        let _ = VerifyingKey::from_slice(&bytes);
        let _ = VerifyingKey::from_base64(&text);
        let _ = VerifyingKey::from_hex(&text);
        let _ = VerifyingKey::from_public_key_pem(&text);
        let _ = SigningKey::from_slice(&bytes);
        let _ = SigningKey::from_pkcs8_pem(&text);
        let _ = text.parse::<KeyId>();
        let _ = serde_json::from_str::<Signature>(&text);
        let _ = serde_json::from_str::<VerifyingKey>(&text);
    }

    /// Random 32-byte strings either fail to parse as a public key or yield a
    /// key that rejects a random signature.
    #[test]
    fn random_keys_and_signatures_are_rejected(key in any::<[u8; 32]>(), sig in prop::collection::vec(any::<u8>(), 64)) {
        if let Ok(public) = VerifyingKey::from_bytes(&key) {
            let signature = Signature::from_slice(&sig).unwrap();
            prop_assert!(public.verify_strict(b"message", &signature).is_err());
        }
    }
}

#[test]
fn pem_garbage_with_valid_armor_is_refused() {
    for pem in [
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
        "",
    ] {
        assert!(SigningKey::from_pkcs8_pem(pem).is_err());
    }
}
