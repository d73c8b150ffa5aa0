//! Provenance: what every result records about how it was made, so a colorized photo or film can
//! never pass for an original. The model is named and identified by the SHA-256 of its file (two
//! files called `ddcolor_modelscope.onnx` need not hold the same weights), with the workflow, the
//! settings and the tool's version. The writers embed it where standard readers look: XMP (PNG
//! iTXt, JPEG APP1, TIFF tag 700, WebP `XMP ` chunk) plus plain-text fields (PNG `Software` and
//! `Description`, TIFF `Software` and `ImageDescription`); `ddcolor film` sets container tags
//! from [`Provenance::summary`].

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// Namespace of the project's own XMP properties (`ddcolor:Model`, ...).
pub const XMP_NAMESPACE: &str = "https://github.com/ddcolor-rs/ns/1.0/";

/// How a result was made. Shared (in an `Arc`) by all the results of one run; only `source`
/// differs from photo to photo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    /// The tool and its version, e.g. "ddcolor 0.1.0".
    pub tool: String,
    /// The model's catalog name or file stem, e.g. "modelscope".
    pub model_name: String,
    /// SHA-256 of the model file, lowercase hex.
    pub model_sha256: String,
    /// The workflow the result was made with, if any (e.g. "portrait").
    pub workflow: Option<String>,
    /// Settings that shape the colours, in the order they are shown (`("input_size", "512")`).
    pub settings: Vec<(String, String)>,
    /// The input's file name (never its full path: folder names can be private).
    pub source: Option<String>,
}

impl Provenance {
    /// A copy naming `input` (its file name only) as the source.
    pub fn with_source(&self, input: &Path) -> Self {
        Self {
            source: input.file_name().map(|n| n.to_string_lossy().into_owned()),
            ..self.clone()
        }
    }

    /// The settings as one value: `input_size=512; upsample=bilinear`.
    pub fn settings_text(&self) -> String {
        self.settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// One human-readable line for plain-text fields (PNG `Description`, film comments).
    pub fn summary(&self) -> String {
        let mut s = format!(
            "Colorized by {} with DDColor model {} (sha256 {})",
            self.tool, self.model_name, self.model_sha256
        );
        if let Some(w) = &self.workflow {
            s.push_str(&format!(", workflow {w}"));
        }
        if !self.settings.is_empty() {
            s.push_str(&format!(", settings: {}", self.settings_text()));
        }
        if let Some(src) = &self.source {
            s.push_str(&format!(", from {src}"));
        }
        s
    }

    /// A complete XMP packet (UTF-8, no padding): standard properties where they fit
    /// (`xmp:CreatorTool`, `dc:description`), the rest in the project's namespace.
    pub fn xmp_packet(&self) -> String {
        let mut props = String::new();
        let mut prop = |name: &str, value: &str| {
            props.push_str(&format!("   <{name}>{}</{name}>\n", xml_escape(value)));
        };
        prop("xmp:CreatorTool", &self.tool);
        prop("ddcolor:Colorized", "True");
        prop("ddcolor:Model", &self.model_name);
        prop("ddcolor:ModelSHA256", &self.model_sha256);
        if let Some(w) = &self.workflow {
            prop("ddcolor:Workflow", w);
        }
        if !self.settings.is_empty() {
            prop("ddcolor:Settings", &self.settings_text());
        }
        if let Some(src) = &self.source {
            prop("ddcolor:Source", src);
        }
        format!(
            "<?xpacket begin=\"\u{FEFF}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
             <x:xmpmeta xmlns:x=\"adobe:ns:meta/\" x:xmptk=\"{tool}\">\n\
             \x20<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n\
             \x20 <rdf:Description rdf:about=\"\"\n\
             \x20   xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n\
             \x20   xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n\
             \x20   xmlns:ddcolor=\"{XMP_NAMESPACE}\">\n\
             \x20  <dc:description>\n\
             \x20   <rdf:Alt>\n\
             \x20    <rdf:li xml:lang=\"x-default\">{summary}</rdf:li>\n\
             \x20   </rdf:Alt>\n\
             \x20  </dc:description>\n\
             {props}\
             \x20 </rdf:Description>\n\
             \x20</rdf:RDF>\n\
             </x:xmpmeta>\n\
             <?xpacket end=\"w\"?>",
            tool = xml_escape(&self.tool),
            summary = xml_escape(&self.summary()),
        )
    }
}

/// The name a model file goes by: its catalog name for `ddcolor_<name>[_<anything>].onnx`
/// (`ddcolor_paper_tiny_fp16.onnx` is "paper_tiny_fp16"), else the file's stem
/// (`models/generated/test-256.onnx` is "test-256").
pub fn model_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.strip_prefix("ddcolor_") {
        Some(rest)
            if crate::inference::catalog::VARIANTS
                .iter()
                .any(|v| rest == v.name || rest.starts_with(&format!("{}_", v.name))) =>
        {
            rest.to_string()
        }
        _ => stem,
    }
}

/// Escapes text for XML content and attribute values. Characters XML 1.0 cannot carry at all
/// (control characters other than tab and newlines) become U+FFFD rather than breaking the packet.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// SHA-256 of a file, streamed (models are hundreds of MB), as lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// [`sha256_file`] remembered for the life of the process, keyed by the file's canonical path,
/// size and modification time: a batch or a film (whose element loads the model itself) hashes a
/// model of hundreds of MB once, and a file replaced in between is hashed again.
pub fn sha256_file_cached(path: &Path) -> std::io::Result<String> {
    type Key = (PathBuf, u64, Option<SystemTime>);
    static CACHE: OnceLock<Mutex<HashMap<Key, String>>> = OnceLock::new();
    let meta = std::fs::metadata(path)?;
    let key: Key = (path.canonicalize()?, meta.len(), meta.modified().ok());
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(h) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(h.clone());
    }
    let hash = sha256_file(path)?;
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, hash.clone());
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Provenance {
        Provenance {
            tool: "ddcolor 0.1.0".into(),
            model_name: "test <&> \"model\"".into(),
            model_sha256: "ab".repeat(32),
            workflow: Some("portrait".into()),
            settings: vec![
                ("input_size".into(), "512".into()),
                ("upsample".into(), "bilinear".into()),
            ],
            source: Some("grand'ma\u{1}.jpg".into()),
        }
    }

    #[test]
    fn summary_names_everything() {
        let s = sample().summary();
        assert!(s.starts_with("Colorized by ddcolor 0.1.0 with DDColor model test <&> \"model\""));
        assert!(s.contains(&"ab".repeat(32)));
        assert!(s.contains("workflow portrait"));
        assert!(s.contains("settings: input_size=512; upsample=bilinear"));
    }

    #[test]
    fn xmp_packet_is_escaped_and_complete() {
        let x = sample().xmp_packet();
        assert!(x.starts_with("<?xpacket begin=\"\u{FEFF}\""));
        assert!(x.ends_with("<?xpacket end=\"w\"?>"));
        assert!(x.contains("<ddcolor:Model>test &lt;&amp;&gt; &quot;model&quot;</ddcolor:Model>"));
        assert!(x.contains("<ddcolor:Source>grand&apos;ma\u{FFFD}.jpg</ddcolor:Source>"));
        assert!(
            x.contains("<ddcolor:Settings>input_size=512; upsample=bilinear</ddcolor:Settings>")
        );
        assert!(x.contains("<ddcolor:Colorized>True</ddcolor:Colorized>"));
        assert!(!x.contains('\u{1}'));
        // Every element opened is closed (a cheap well-formedness check without an XML parser).
        for tag in [
            "x:xmpmeta",
            "rdf:RDF",
            "rdf:Description",
            "dc:description",
            "rdf:Alt",
        ] {
            assert_eq!(
                x.matches(&format!("<{tag}")).count(),
                x.matches(&format!("</{tag}>")).count(),
                "{tag}"
            );
        }
    }

    #[test]
    fn model_names() {
        assert_eq!(
            model_name(Path::new("m/ddcolor_modelscope.onnx")),
            "modelscope"
        );
        assert_eq!(
            model_name(Path::new("ddcolor_paper_tiny_fp16.onnx")),
            "paper_tiny_fp16"
        );
        assert_eq!(
            model_name(Path::new("models/generated/test-256.onnx")),
            "test-256"
        );
        assert_eq!(model_name(Path::new("ddcolor_mine.onnx")), "ddcolor_mine");
    }

    #[test]
    fn sha256_of_a_file() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        std::io::Write::write_all(&mut f, b"abc").expect("write");
        let want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_file(f.path()).expect("hash"), want);
        assert_eq!(sha256_file_cached(f.path()).expect("hash"), want);
        assert_eq!(sha256_file_cached(f.path()).expect("hash"), want);
    }
}
