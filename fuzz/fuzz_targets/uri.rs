//! Paths and query strings: decoding never panics, and a query rendered by percent-encoding
//! decoded pairs decodes to the same pairs (encode → decode round trip).
#![no_main]
use libfuzzer_sys::fuzz_target;
use linux_patch_api::http::uri;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(segments) = uri::path_segments(&text) {
        let rendered: String = segments
            .iter()
            .map(|s| format!("/{}", lpa_fuzz::percent_encode(s)))
            .collect();
        let again = uri::path_segments(if rendered.is_empty() { "/" } else { &rendered });
        assert_eq!(
            again.as_ref().ok(),
            Some(&segments),
            "path round trip: {rendered:?}"
        );
    }
    if let Ok(pairs) = uri::query_pairs(&text) {
        let rendered: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    lpa_fuzz::percent_encode(k),
                    lpa_fuzz::percent_encode(v)
                )
            })
            .collect();
        let again = uri::query_pairs(&rendered.join("&")).expect("a rendered query decodes");
        // Pairs whose key and value are both empty render as "=" and are kept; only
        // literally empty pieces are skipped.
        assert_eq!(again, pairs, "query round trip: {rendered:?}");
    }
});
