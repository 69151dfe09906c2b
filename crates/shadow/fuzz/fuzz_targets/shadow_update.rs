//! Any bytes, as an UpdateThingShadow payload: parsed and applied to no shadow, to a deleted
//! one and to an existing one (whose document the previous update left); every answer is
//! rendered. Nothing may panic, overflow the stack or hang.
#![no_main]

use iotemu_shadow::{
    apply_update, client_token_of, delete_answer, document_bytes, get_document, parse_request, rejected, Limits,
    ShadowDocument,
};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const EXISTING: &[u8] = br#"{"state":{"desired":{"color":"red","a":{"b":{"c":[1,2,{"d":true}]}}},"reported":{"color":"blue","n":null}}}"#;

/// The shadow the input updates, and its deleted form (made once).
fn documents() -> &'static (ShadowDocument, ShadowDocument) {
    static DOCUMENTS: OnceLock<(ShadowDocument, ShadowDocument)> = OnceLock::new();
    DOCUMENTS.get_or_init(|| {
        let request = parse_request(EXISTING).expect("the seed parses");
        let existing = apply_update(None, &request, 1, &Limits::default()).expect("the seed applies").document;
        let deleted = ShadowDocument { deleted: true, ..existing.clone() };
        (existing, deleted)
    })
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let now = 1_700_000_000;
    let token = client_token_of(data);
    let (existing, deleted) = documents();
    let request = match parse_request(data) {
        Ok(request) => request,
        Err(e) => {
            let _ = rejected(&e, token.as_deref(), now).to_string();
            return;
        }
    };
    for current in [None, Some(deleted), Some(existing)] {
        match apply_update(current, &request, now, &limits) {
            Ok(outcome) => {
                let _ = outcome.accepted.to_string();
                let _ = outcome.delta.map(|d| d.to_string());
                let _ = outcome.documents.to_string();
                let _ = document_bytes(&outcome.document);
                let _ = get_document(&outcome.document, token.as_deref(), now).to_string();
                let _ = delete_answer(outcome.document.version, token.as_deref(), now).to_string();
                // A second update on top of the first.
                let _ = apply_update(Some(&outcome.document), &request, now + 1, &limits);
            }
            Err(e) => {
                let _ = rejected(&e, token.as_deref(), now).to_string();
            }
        }
    }
});
