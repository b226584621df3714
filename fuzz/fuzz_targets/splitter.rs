//! The streaming splitter on arbitrary bytes cut at arbitrary places: no panic, and the same
//! envelopes (or the same failure) whatever the cuts.
#![no_main]

use ews_proto::EnvelopeSplitter;
use libfuzzer_sys::fuzz_target;

fn split(chunks: &[&[u8]]) -> Result<Vec<Vec<u8>>, ()> {
    let mut splitter = EnvelopeSplitter::with_max_envelope(4096);
    let mut out = Vec::new();
    for chunk in chunks {
        splitter.push(chunk);
        loop {
            match splitter.next_envelope() {
                Ok(Some(envelope)) => out.push(envelope),
                Ok(None) => break,
                Err(_) => return Err(()),
            }
        }
    }
    splitter.finish().map_err(|_| ())?;
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    // The first two bytes choose the cuts; the rest is the stream.
    let (cuts, stream) = data.split_at(2);
    let whole = split(&[stream]);
    let a = usize::from(cuts[0]) % (stream.len() + 1);
    let b = a + usize::from(cuts[1]) % (stream.len() - a + 1);
    let cut = split(&[&stream[..a], &stream[a..b], &stream[b..]]);
    assert_eq!(whole, cut, "cuts at {a} and {b} change the result");
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(whole, split(&bytes), "byte-by-byte changes the result");
});
