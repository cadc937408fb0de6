//! WebSocket frames (both roles): a stream cut into reads at the places the input chooses must
//! never panic, never keep more than the limit (plus a header), and give the same messages as
//! the whole stream read at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portico_proto::ws::{Message, Reader, Role, WsError};

const LIMIT: usize = 4096;

fn read_all(role: Role, wire: &[u8], cuts: &[usize]) -> (Vec<Message>, Option<WsError>) {
    let mut r = Reader::new(role, LIMIT);
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts.iter().chain(std::iter::once(&wire.len())) {
        let end = cut.clamp(at, wire.len());
        let step = (|| {
            if let Some(m) = r.next_from(&wire[at..end])? {
                out.push(m);
            }
            while let Some(m) = r.next_buffered()? {
                out.push(m);
            }
            Ok(())
        })();
        if let Err(e) = step {
            return (out, Some(e));
        }
        assert!(
            r.buffered() <= 2 * (LIMIT + 14),
            "kept {} bytes",
            r.buffered()
        );
        at = end;
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let cuts: Vec<usize> = rest
        .iter()
        .take(usize::from(n % 8))
        .map(|&b| usize::from(b) * 7)
        .collect();
    let wire = &rest[usize::from(n % 8).min(rest.len())..];
    for role in [Role::Server, Role::Client] {
        let whole = read_all(role, wire, &[]);
        let pieces = read_all(role, wire, &cuts);
        assert_eq!(whole, pieces);
    }
});
