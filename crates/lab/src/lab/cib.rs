//! Loading configuration into the cluster: every lab caller (fence devices, instances,
//! rendered templates) goes through one path, the requests of [`axha_ocf::cibadmin`] run on
//! the first live node with the XML on stdin (it may hold passwords). A new node kind that
//! adds resources uses [`Lab::cib_create`].

use std::time::Duration;

use axha_exec::Deadline;
use axha_ocf::cibadmin::{CibAdmin, Request, Target};

use crate::{Lab, LabError};

/// Budget of one `cibadmin` call.
const CIB_TIMEOUT: Duration = Duration::from_secs(30);

impl Lab {
    /// A cibadmin request run on the first live node; `what` names the step in the error.
    fn cibadmin(&self, request: &Request, what: &str) -> Result<(), LabError> {
        let node = self.first_alive()?;
        request
            .finish(self.cmd(&node, &request.argv())?)
            .run_ok(&Deadline::after(CIB_TIMEOUT))
            .map(|_| ())
            .map_err(|e| LabError::exec(what, e))
    }

    /// Add XML to a CIB section (`resources`, `constraints`, ...) through the first live node;
    /// the XML goes on stdin (it may hold passwords).
    pub fn cib_create(&self, section: &str, xml: &str) -> Result<(), LabError> {
        self.cib_create_as(section, xml, &format!("adding to the CIB {section}"))
    }

    /// [`Lab::cib_create`] with `what` naming the step in the error.
    pub(super) fn cib_create_as(
        &self,
        section: &str,
        xml: &str,
        what: &str,
    ) -> Result<(), LabError> {
        self.cibadmin(&CibAdmin::live().create(section, xml), what)
    }

    /// Replace the cluster's whole configuration with the `<configuration>` of a CIB document
    /// (e.g. one rendered by `axigen-ha cib render`), through the first live node.
    pub fn load_configuration(&self, cib_xml: &str) -> Result<(), LabError> {
        let doc = roxmltree::Document::parse(cib_xml).map_err(|e| LabError::Xml {
            what: "CIB".into(),
            reason: e.to_string(),
        })?;
        let conf = doc
            .descendants()
            .find(|n| n.has_tag_name("configuration"))
            .ok_or_else(|| LabError::Xml {
                what: "CIB".into(),
                reason: "no <configuration> element".into(),
            })?;
        self.cibadmin(
            &CibAdmin::live().replace(Target::Section("configuration"), &cib_xml[conf.range()]),
            "replacing the CIB configuration",
        )
    }
}
