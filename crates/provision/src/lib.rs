//! axigen-provision: the provisioning service and CLI (in progress).
