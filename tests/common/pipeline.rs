//! Reading several responses from one connection: pipelined answers that arrive in one read,
//! and answers to HEAD, whose Content-Length describes a body that is never sent.
#![allow(dead_code)]

use std::io::Read;

use super::HttpResponse;

/// A response reader that keeps bytes read past one response for the next.
pub struct Responses<S: Read> {
    /// The connection.
    pub stream: S,
    buf: Vec<u8>,
}

impl<S: Read> Responses<S> {
    /// Reads responses from `stream`.
    pub fn new(stream: S) -> Responses<S> {
        Responses {
            stream,
            buf: Vec::new(),
        }
    }

    /// The next response; for `head_request` no body is read whatever Content-Length says.
    pub fn next(&mut self, head_request: bool) -> std::io::Result<HttpResponse> {
        loop {
            if let Some((resp, used)) = self.parse(head_request)? {
                self.buf.drain(..used);
                return Ok(resp);
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Bytes received and not yet taken by a response.
    pub fn leftover(&self) -> &[u8] {
        &self.buf
    }

    fn parse(&self, head_request: bool) -> std::io::Result<Option<(HttpResponse, usize)>> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut headers);
        let head_len = match parsed
            .parse(&self.buf)
            .map_err(|e| std::io::Error::other(format!("bad response: {e}")))?
        {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => return Ok(None),
        };
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).to_string(),
                )
            })
            .collect();
        let status = parsed.code.unwrap_or(0);
        let declared: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        let len = if head_request { 0 } else { declared };
        if self.buf.len() < head_len + len {
            return Ok(None);
        }
        let body = self.buf[head_len..head_len + len].to_vec();
        Ok(Some((
            HttpResponse {
                status,
                headers,
                body,
            },
            head_len + len,
        )))
    }
}
