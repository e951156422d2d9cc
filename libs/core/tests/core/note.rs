//! Signed notes and checkpoints: the keys and notes of Go's
//! `golang.org/x/mod/sumdb/note` tests and a real sum.golang.org checkpoint,
//! written in as facts, plus the spec's rules and property tests.

use proptest::prelude::*;
use tracechain_core::merkle::Hash;
use tracechain_core::note::{
    Checkpoint, CheckpointError, MAX_SIGNATURES, NoteError, NoteSigner, NoteVerifier, open_note,
    sign_note,
};
use tracechain_core::signing::SigningKey;

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

/// sum.golang.org's verifier key and one of its published checkpoints.
const SUMDB_VKEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
const SUMDB_CHECKPOINT: &str = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";

fn peter() -> NoteVerifier {
    NoteVerifier::parse(PETER_VKEY).unwrap()
}

fn enoch() -> NoteVerifier {
    NoteVerifier::parse(ENOCH_VKEY).unwrap()
}

#[test]
fn go_keys_parse_and_match() {
    let verifier = peter();
    assert_eq!(verifier.name(), "PeterNeumann");
    assert_eq!(verifier.key_hash(), 0xc74f20a3);
    assert_eq!(verifier.to_vkey(), PETER_VKEY);
    let signer = NoteSigner::parse(PETER_SKEY).unwrap();
    assert_eq!(signer.verifier(), verifier);
    assert_eq!(*signer.to_skey(), PETER_SKEY);
    assert!(!format!("{signer:?}").contains("AYEKF"));
}

#[test]
fn go_sign_produces_the_published_note() {
    let signer = NoteSigner::parse(PETER_SKEY).unwrap();
    let note = sign_note(TEXT, &[signer]).unwrap();
    assert_eq!(note, format!("{TEXT}\n{PETER_SIG}"));
    assert_eq!(
        sign_note("abc", &[NoteSigner::parse(PETER_SKEY).unwrap()]),
        Err(NoteError::TextMissingNewline)
    );
    assert_eq!(sign_note(TEXT, &[]), Err(NoteError::NoSigners));
    assert!(matches!(
        sign_note("tab\there\n", &[NoteSigner::parse(PETER_SKEY).unwrap()]),
        Err(NoteError::ControlCharacter(0x09))
    ));
}

#[test]
fn go_open_cases() {
    let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");

    // One known verifier: one verified, one unverified signature.
    let note = open_note(both.as_bytes(), &[peter()]).unwrap();
    assert_eq!(note.text, TEXT);
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.signatures[0].name, "PeterNeumann");
    assert_eq!(note.signatures[0].key_hash, 0xc74f20a3);
    assert_eq!(note.unverified.len(), 1);
    assert_eq!(note.unverified[0].key_hash, 0xaf0cfe78);

    // Both known.
    let note = open_note(both.as_bytes(), &[peter(), enoch()]).unwrap();
    assert_eq!(note.signatures.len(), 2);
    assert!(note.unverified.is_empty());

    // None known.
    assert_eq!(
        open_note(both.as_bytes(), &[]),
        Err(NoteError::NoVerifiedSignature)
    );

    // Duplicated verifier, used and unused.
    let enoch_only = format!("{TEXT}\n{ENOCH_SIG}");
    assert!(matches!(
        open_note(enoch_only.as_bytes(), &[enoch(), peter(), enoch()]),
        Err(NoteError::AmbiguousKey {
            key_hash: 0xaf0cfe78,
            ..
        })
    ));
    let peter_only = format!("{TEXT}\n{PETER_SIG}");
    open_note(peter_only.as_bytes(), &[enoch(), peter(), enoch()]).unwrap();

    // Too many signatures, known or not.
    let many = format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES + 1));
    assert_eq!(
        open_note(many.as_bytes(), &[peter()]),
        Err(NoteError::TooManySignatures)
    );
    assert_eq!(
        open_note(many.as_bytes(), &[]),
        Err(NoteError::TooManySignatures)
    );
    let enough = format!("{TEXT}\n{}", PETER_SIG.repeat(16));
    assert_eq!(
        open_note(enough.as_bytes(), &[peter()])
            .unwrap()
            .signatures
            .len(),
        1
    );

    // A known key's signature that does not verify rejects the note.
    let bad = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert!(matches!(
        open_note(bad.as_bytes(), &[peter()]),
        Err(NoteError::InvalidSignature {
            key_hash: 0xc74f20a3,
            ..
        })
    ));

    // Repeated verified and unverified signatures are collapsed.
    let enoch_abcd = format!("{}ABCD{}", &ENOCH_SIG[..60], &ENOCH_SIG[60..]);
    let repeated = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{enoch_abcd}");
    let note = open_note(repeated.as_bytes(), &[peter()]).unwrap();
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.unverified.len(), 2);

    // Malformed messages from Go's tests.
    let bad_messages = [
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\u{1}{TEXT}\n{PETER_SIG}"),
        format!(
            "{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ];
    for message in &bad_messages {
        let error = open_note(message.as_bytes(), &[peter()]).unwrap_err();
        assert!(
            !matches!(
                error,
                NoteError::NoVerifiedSignature | NoteError::InvalidSignature { .. }
            ),
            "{message:?} gave {error:?}"
        );
    }
    let mut not_utf8 = b"\xff".to_vec();
    not_utf8.extend_from_slice(format!("{TEXT}\n{PETER_SIG}").as_bytes());
    assert_eq!(open_note(&not_utf8, &[peter()]), Err(NoteError::NotUtf8));
}

#[test]
fn go_verifier_key_manglings_are_refused() {
    let bytes = PETER_VKEY.as_bytes();
    for i in 0..=bytes.len() {
        for j in i + 1..=bytes.len() {
            if i == 0 && j == bytes.len() {
                continue;
            }
            let part = std::str::from_utf8(&bytes[i..j]).unwrap();
            assert!(NoteVerifier::parse(part).is_err(), "{part:?} parsed");
        }
    }
    for i in 0..bytes.len() {
        let mut mangled = bytes.to_vec();
        mangled[i] += 1;
        let mangled = String::from_utf8(mangled).unwrap();
        assert!(NoteVerifier::parse(&mangled).is_err(), "{mangled:?} parsed");
    }
    // Wrong key length with adjusted hash; unknown algorithm with adjusted hash.
    assert!(
        NoteVerifier::parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
        .is_err()
    );
    assert_eq!(
        NoteVerifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(NoteError::UnknownAlgorithm(0x65))
    );
}

#[test]
fn go_signer_key_manglings_are_refused() {
    let bytes = PETER_SKEY.as_bytes();
    for i in 0..=bytes.len() {
        for j in i + 1..=bytes.len() {
            if i == 0 && j == bytes.len() {
                continue;
            }
            let part = std::str::from_utf8(&bytes[i..j]).unwrap();
            assert!(NoteSigner::parse(part).is_err(), "{part:?} parsed");
        }
    }
    for i in 0..bytes.len() {
        let mut mangled = bytes.to_vec();
        mangled[i] += 1;
        let mangled = String::from_utf8(mangled).unwrap();
        assert!(NoteSigner::parse(&mangled).is_err(), "{mangled:?} parsed");
    }
}

#[test]
fn sum_golang_org_checkpoint_verifies() {
    let verifier = NoteVerifier::parse(SUMDB_VKEY).unwrap();
    assert_eq!(verifier.to_vkey(), SUMDB_VKEY);
    let (checkpoint, note) =
        Checkpoint::open(SUMDB_CHECKPOINT.as_bytes(), std::slice::from_ref(&verifier)).unwrap();
    assert_eq!(checkpoint.origin(), "go.sum database tree");
    assert_eq!(checkpoint.size(), 6476701);
    assert_eq!(
        *checkpoint.root_hash(),
        Hash::from_base64("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=").unwrap()
    );
    assert_eq!(note.signatures[0].name, "sum.golang.org");
    assert_eq!(checkpoint.to_note_text(), note.text);
    // A different size under the same signature fails.
    let forged = SUMDB_CHECKPOINT.replace("6476701", "6476702");
    assert!(matches!(
        Checkpoint::open(forged.as_bytes(), &[verifier]),
        Err(CheckpointError::Note(NoteError::InvalidSignature { .. }))
    ));
}

#[test]
fn c2sp_spec_examples_are_well_formed() {
    // From c2sp.org/signed-note: a note with blank lines in its text. Its key
    // is not published, so it opens as "no known signature", not as malformed.
    let poem = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    assert_eq!(
        open_note(poem.as_bytes(), &[peter()]),
        Err(NoteError::NoVerifiedSignature)
    );
    // From c2sp.org/tlog-checkpoint.
    let text =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    let checkpoint = Checkpoint::parse(text).unwrap();
    assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
    assert_eq!(checkpoint.size(), 20852163);
    assert_eq!(checkpoint.to_note_text(), text);
    let signed = format!(
        "{text}\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    );
    assert_eq!(
        open_note(signed.as_bytes(), &[]),
        Err(NoteError::NoVerifiedSignature)
    );
}

#[test]
fn checkpoint_round_trip_with_our_keys() {
    let log_key = NoteSigner::new("tracechain.example/ledger", SigningKey::generate()).unwrap();
    let witness = NoteSigner::new("witness.example", SigningKey::generate()).unwrap();
    let root = tracechain_core::merkle::leaf_hash(b"root");
    let checkpoint = Checkpoint::new("tracechain.example/ledger", 42, root)
        .unwrap()
        .with_extensions(vec!["height 7".into()])
        .unwrap();
    let signed = checkpoint
        .sign(&[log_key.clone(), witness.clone()])
        .unwrap();
    let (opened, note) = Checkpoint::open(signed.as_bytes(), &[log_key.verifier()]).unwrap();
    assert_eq!(opened, checkpoint);
    assert_eq!(note.unverified.len(), 1);
    let (_, note) =
        Checkpoint::open(signed.as_bytes(), &[log_key.verifier(), witness.verifier()]).unwrap();
    assert_eq!(note.signatures.len(), 2);
    assert_eq!(
        NoteVerifier::parse(&log_key.verifier().to_vkey()).unwrap(),
        log_key.verifier()
    );
    assert_eq!(
        NoteSigner::parse(&log_key.to_skey()).unwrap().verifier(),
        log_key.verifier()
    );
}

#[test]
fn checkpoint_parsing_is_strict() {
    let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    let cases: [(String, CheckpointError); 10] = [
        (format!("o\n1\n{root}"), CheckpointError::MissingNewline),
        ("o\n1\n".into(), CheckpointError::TooFewLines),
        (format!("\n1\n{root}\n"), CheckpointError::InvalidOrigin),
        (
            format!("o\n01\n{root}\n"),
            CheckpointError::InvalidSize("01".into()),
        ),
        (
            format!("o\n+1\n{root}\n"),
            CheckpointError::InvalidSize("+1".into()),
        ),
        (
            format!("o\n-1\n{root}\n"),
            CheckpointError::InvalidSize("-1".into()),
        ),
        (
            format!("o\n18446744073709551616\n{root}\n"),
            CheckpointError::InvalidSize("18446744073709551616".into()),
        ),
        (
            "o\n1\nAAAA\n".into(),
            CheckpointError::InvalidRootHash("AAAA".into()),
        ),
        (
            format!("o\n1\n{root}\n\n"),
            CheckpointError::InvalidExtension(1),
        ),
        (
            format!("o\n1\n{root}\next\n\n"),
            CheckpointError::InvalidExtension(2),
        ),
    ];
    for (text, error) in cases {
        assert_eq!(Checkpoint::parse(&text), Err(error), "{text:?}");
    }
    assert_eq!(
        Checkpoint::parse(&format!("o\n0\n{root}\n"))
            .unwrap()
            .size(),
        0
    );
    assert_eq!(
        Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n"))
            .unwrap()
            .size(),
        u64::MAX
    );
    assert!(Checkpoint::new("", 1, Hash::default()).is_err());
    assert!(Checkpoint::new("a\nb", 1, Hash::default()).is_err());
}

#[test]
fn key_names_are_validated() {
    for name in ["", "a b", "a+b", "a\u{a0}b", "a\tb", "a\u{1}b"] {
        assert!(
            matches!(
                NoteSigner::new(name, SigningKey::generate()),
                Err(NoteError::InvalidKeyName { .. })
            ),
            "{name:?}"
        );
    }
    NoteSigner::new("example.com/log-42_é", SigningKey::generate()).unwrap();
}

proptest! {
    /// No input makes the note parser or the key and checkpoint parsers panic.
    #[test]
    fn parsing_arbitrary_input_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        text in "(\\PC|\n|— ){0,200}",
    ) {
        let _ = open_note(&bytes, &[peter()]);
        let _ = open_note(text.as_bytes(), &[peter(), enoch()]);
        let _ = Checkpoint::parse(&text);
        let _ = Checkpoint::open(text.as_bytes(), &[peter()]);
        let _ = NoteVerifier::parse(&text);
        let _ = NoteSigner::parse(&text);
    }

    /// Changing any single byte of a signed note makes it fail to open.
    #[test]
    fn any_single_byte_change_fails(position in any::<prop::sample::Index>(), delta in 1u8..=255) {
        let note = format!("{TEXT}\n{PETER_SIG}");
        let mut bytes = note.into_bytes();
        let at = position.index(bytes.len());
        bytes[at] = bytes[at].wrapping_add(delta);
        prop_assert!(open_note(&bytes, &[peter()]).is_err());
    }
}

#[test]
fn every_single_byte_change_fails_exhaustively() {
    // The same property, for every position and a few values, deterministically.
    let note = format!("{TEXT}\n{PETER_SIG}");
    for at in 0..note.len() {
        for delta in [1u8, 0x20, 0x80] {
            let mut bytes = note.clone().into_bytes();
            bytes[at] = bytes[at].wrapping_add(delta);
            assert!(
                open_note(&bytes, &[peter()]).is_err(),
                "byte {at} + {delta}"
            );
        }
    }
}
