//! Pacemaker's view of the cluster, read from `crm_mon --output-as=xml` with the one parser of
//! that output (`axha_cib::status`): the text output changes between versions
//! (Master/Slave vs Promoted/Unpromoted), the XML API is versioned.

use axha_cib::status::ClusterStatus;
use axha_cib::CibError;

use crate::LabError;

pub use axha_cib::status::{FenceEvent, NodeState};

/// The cluster as one node's crm_mon sees it.
pub type ClusterView = ClusterStatus;
/// One node as crm_mon sees it.
pub type NodeView = axha_cib::status::NodeStatus;
/// One primitive resource (a member of a group or clone is listed with its parents).
pub type ResourceView = axha_cib::status::ResourceStatus;

/// Parse `crm_mon --output-as=xml`. Unknown elements and attributes are ignored (newer
/// Pacemaker adds some); a missing `<nodes>` section is an error (that is not crm_mon output).
pub fn parse_crm_mon(xml: &str) -> Result<ClusterView, LabError> {
    axha_cib::status::parse_crm_mon(xml).map_err(|e| match e {
        CibError::Parse { what, detail } => LabError::Xml {
            what,
            reason: detail,
        },
        other => LabError::Xml {
            what: "crm_mon XML".into(),
            reason: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_crm_mon_xml() {
        for bad in ["", "<pacemaker-result/>", "<x><nodes><node/></nodes></x>"] {
            let e = parse_crm_mon(bad).unwrap_err();
            assert!(e.to_string().contains("crm_mon XML"), "{bad}: {e}");
        }
    }
}
