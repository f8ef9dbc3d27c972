//! Storage: sparse image files in the lab's state directory attached to loop devices, with
//! an ext4 filesystem (a SAN LUN stand-in; mounted only inside nodes, by
//! `ocf:heartbeat:Filesystem`). Teardown detaches them. A new node kind that needs shared
//! storage asks for a disk here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_exec::{Cmd, Deadline};

use super::mkdir_mode;
use crate::spec::validate_name;
use crate::{Lab, LabError};

/// A loop device made by [`Lab::add_disk`]: a sparse image file in the lab's state
/// directory, attached to a loop device, with an ext4 filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The disk's name (also its filesystem label).
    pub name: String,
    /// The sparse image file behind it.
    pub image: PathBuf,
    /// The loop device (`/dev/loopN`).
    pub device: PathBuf,
}

impl Lab {
    /// A new ext4 filesystem of `size_mb` MiB on a loop device (a SAN LUN stand-in), its
    /// root populated from `populate` if given (`mke2fs -d`, nothing is mounted on the host).
    /// Teardown detaches it.
    pub fn add_disk(
        &self,
        name: &str,
        size_mb: u64,
        populate: Option<&Path>,
    ) -> Result<Disk, LabError> {
        validate_name(name).map_err(|_| LabError::InvalidSpec {
            field: "disk name",
            value: name.to_string(),
            reason: "a-z, 0-9 and -, up to 12 characters",
        })?;
        let dir = self.state_dir.join("disks");
        mkdir_mode(&dir, 0o700, None)?;
        let image = dir.join(format!("{name}.img"));
        if image.exists() {
            return Err(LabError::InvalidSpec {
                field: "disk name",
                value: name.to_string(),
                reason: "a disk of that name exists",
            });
        }
        let f = std::fs::File::create(&image).map_err(|e| LabError::io(&image, e))?;
        f.set_len(size_mb * 1024 * 1024)
            .map_err(|e| LabError::io(&image, e))?;
        drop(f);
        let d = Deadline::after(Duration::from_secs(60));
        let mut mkfs = Cmd::new("mkfs.ext4").args(["-q", "-F", "-L", name]);
        if let Some(p) = populate {
            mkfs = mkfs.arg("-d").arg(p);
        }
        mkfs.arg(&image)
            .run_ok(&d)
            .map_err(|e| LabError::exec(format!("making the filesystem of disk {name}"), e))?;
        let out = Cmd::new("losetup")
            .args(["--find", "--show"])
            .arg(&image)
            .run_ok(&d)
            .map_err(|e| LabError::exec(format!("attaching disk {name}"), e))?;
        let device = PathBuf::from(out.stdout_str().trim());
        let rec = dir.join(format!("{name}.loop"));
        std::fs::write(&rec, format!("{}\n", device.display()))
            .map_err(|e| LabError::io(&rec, e))?;
        Ok(Disk {
            name: name.to_string(),
            image,
            device,
        })
    }

    /// The disks made by [`Lab::add_disk`] that are still attached to their image.
    pub fn disks(&self) -> Vec<Disk> {
        let dir = self.state_dir.join("disks");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut v: Vec<Disk> = rd
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.strip_suffix(".loop")?.to_string();
                let device = PathBuf::from(std::fs::read_to_string(e.path()).ok()?.trim());
                let image = dir.join(format!("{name}.img"));
                // Attached to *our* image: the loop device may have been reused since.
                let dev = device.file_name()?.to_str()?.to_string();
                let backing =
                    std::fs::read_to_string(format!("/sys/block/{dev}/loop/backing_file")).ok()?;
                (Path::new(backing.trim()) == image).then_some(Disk {
                    name,
                    image,
                    device,
                })
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Detach a disk's loop device (its filesystem is mounted only inside nodes, which have
    /// ended by then).
    pub(super) fn detach_disk(&self, disk: &Disk) -> Result<(), LabError> {
        Cmd::new("losetup")
            .arg("-d")
            .arg(&disk.device)
            .run_ok(&Deadline::after(Duration::from_secs(10)))
            .map(|_| ())
            .map_err(|e| LabError::exec(format!("detaching disk {}", disk.name), e))
    }
}
