//! `meta-data` XML, generated from an [`AgentSpec`], declaring OCF 1.1.
//!
//! OCF 1.1 adds `reloadable` and `unique-group` to parameters and the `reload-agent` action;
//! Pacemaker 2.1 reads them to apply a change of a reloadable parameter without a restart.
//! The 1.0 DTD (`ra-api-1.dtd`) that stock `ocf-tester` validates against (`xmllint --valid`,
//! through the DOCTYPE line) and resource-agents 4.12's `metadata.rng` know neither, so the
//! DOCTYPE carries an internal subset declaring exactly these OCF 1.1 additions: the 1.0 DTD
//! still checks everything else, and `pcs` validates the document against its OCF 1.1
//! schema (`/usr/share/pcs/data/ocf-1.1.rng`). A `select` parameter appears as
//! `type="string"` with its values listed in the long description (the 1.0 DTD knows no
//! `select`).

use std::fmt::Write;

use axha_exec::{escape_xml, escape_xml_text};

use crate::{AgentSpec, ParamType};

/// OCF API version this framework speaks.
pub const OCF_API_VERSION: &str = "1.1";

/// The DOCTYPE: the OCF 1.0 DTD, plus the OCF 1.1 additions as an internal subset (the
/// first declaration of an attribute is binding, so `action name` becomes free text here and
/// [`ocf_action`] keeps it to the OCF 1.1 list).
pub const DOCTYPE: &str = "<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\" [\n\
     <!ATTLIST parameter reloadable (1|0) #IMPLIED unique-group CDATA #IMPLIED>\n\
     <!ATTLIST action name CDATA #REQUIRED>\n]>";

/// Whether an action name is one OCF 1.1 defines (others, like `diagnose`, are dispatched
/// but not advertised).
pub fn ocf_action(name: &str) -> bool {
    matches!(
        name,
        "reload-agent"
            | "start"
            | "stop"
            | "recover"
            | "monitor"
            | "restart"
            | "migrate_to"
            | "migrate_from"
            | "promote"
            | "demote"
            | "notify"
            | "status"
            | "reload"
            | "meta-data"
            | "usage"
            | "methods"
            | "validate-all"
    )
}

/// The whole meta-data document.
pub fn render(spec: &AgentSpec) -> String {
    let mut x = String::new();
    // Writing into a String cannot fail.
    let _ = write!(
        x,
        "<?xml version=\"1.0\"?>\n{DOCTYPE}\n\
         <resource-agent name=\"{}\" version=\"{}\">\n<version>{OCF_API_VERSION}</version>\n\
         <longdesc lang=\"en\">\n{}\n</longdesc>\n<shortdesc lang=\"en\">{}</shortdesc>\n",
        escape_xml(spec.name),
        escape_xml(spec.version),
        escape_xml_text(spec.longdesc),
        escape_xml_text(spec.shortdesc)
    );
    x.push_str("<parameters>\n");
    for p in spec.params {
        let (kind, long) = match p.kind {
            ParamType::String => ("string", p.longdesc.to_string()),
            ParamType::Integer => ("integer", p.longdesc.to_string()),
            ParamType::Boolean => ("boolean", p.longdesc.to_string()),
            ParamType::Select(opts) => (
                "string",
                format!("{} Allowed values: {}.", p.longdesc, opts.join(", ")),
            ),
        };
        let group = p
            .unique_group
            .map(|g| format!(" unique-group=\"{}\"", escape_xml(g)))
            .unwrap_or_default();
        let reload = if p.reloadable {
            " reloadable=\"1\""
        } else {
            ""
        };
        let _ = write!(
            x,
            "<parameter name=\"{}\" unique=\"{}\" required=\"{}\"{group}{reload}>\n\
             <longdesc lang=\"en\">\n{}\n</longdesc>\n<shortdesc lang=\"en\">{}</shortdesc>\n\
             <content type=\"{kind}\"{} />\n</parameter>\n",
            escape_xml(p.name),
            u8::from(p.unique),
            u8::from(p.required),
            escape_xml_text(&long),
            escape_xml_text(p.shortdesc),
            p.default
                .map(|d| format!(" default=\"{}\"", escape_xml(d)))
                .unwrap_or_default()
        );
    }
    x.push_str("</parameters>\n<actions>\n");
    for a in spec
        .actions
        .iter()
        .filter(|a| !a.hidden && ocf_action(a.name))
    {
        let _ = write!(x, "<action name=\"{}\" timeout=\"{}s\"", a.name, a.timeout);
        if let Some(i) = a.interval {
            let _ = write!(x, " interval=\"{i}s\"");
        }
        if let Some(d) = a.depth {
            let _ = write!(x, " depth=\"{d}\"");
        }
        if let Some(r) = a.role {
            let _ = write!(x, " role=\"{r}\"");
        }
        x.push_str(" />\n");
    }
    x.push_str("</actions>\n</resource-agent>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActionSpec, Param, ParamSpec};

    static PARAMS: &[ParamSpec] = &[
        Param::string("path", "A <path>", "Where & why \"quoted\", the path's.")
            .required()
            .spec,
        Param::select("mode", &["fast", "safe"], "Mode", "How.")
            .default("safe")
            .reloadable()
            .spec,
        Param::string("addr", "Address", "Where.")
            .unique_group("listener")
            .spec,
    ];
    fn ok(_: &mut crate::Context) -> crate::OcfResult {
        Ok(crate::OcfStatus::Success)
    }
    static ACTIONS: &[ActionSpec] = &[
        ActionSpec::new("start", 60, ok),
        ActionSpec::new("monitor", 20, ok).interval(10).depth(0),
        ActionSpec::new("monitor", 20, ok)
            .interval(11)
            .role("Promoted"),
        ActionSpec::new("diagnose", 30, ok).hidden(),
        ActionSpec::new("reload-agent", 10, ok),
    ];
    static SPEC: AgentSpec = AgentSpec {
        name: "t",
        version: "0.1",
        shortdesc: "T",
        longdesc: "Test <agent>.",
        params: PARAMS,
        actions: ACTIONS,
    };

    #[test]
    fn escapes_and_lists() {
        let x = render(&SPEC);
        assert!(x.starts_with(&format!("<?xml version=\"1.0\"?>\n{DOCTYPE}\n")));
        assert!(x.contains("<version>1.1</version>"));
        assert!(x.contains("<parameter name=\"path\" unique=\"0\" required=\"1\">"));
        assert!(
            x.contains("<parameter name=\"mode\" unique=\"0\" required=\"0\" reloadable=\"1\">")
        );
        assert!(x.contains(
            "<parameter name=\"addr\" unique=\"0\" required=\"0\" unique-group=\"listener\">"
        ));
        assert!(x.contains("<action name=\"reload-agent\" timeout=\"10s\" />"));
        assert!(x.contains("<shortdesc lang=\"en\">A &lt;path&gt;</shortdesc>"));
        // Prose keeps its quotes; only markup characters are escaped.
        assert!(x.contains("Where &amp; why \"quoted\", the path's."));
        assert!(x.contains("How. Allowed values: fast, safe."));
        assert!(x.contains("<content type=\"string\" default=\"safe\" />"));
        assert!(
            x.contains("<action name=\"monitor\" timeout=\"20s\" interval=\"10s\" depth=\"0\" />")
        );
        assert!(x.contains("role=\"Promoted\""));
        assert!(!x.contains("diagnose"));
    }
}
