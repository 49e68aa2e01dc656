"""What a patient uploaded, turned into batches of files a worker can read one by one.

An upload is a list of paths: files, folders, archives (.zip, .7z, .tar and
compressed tars) and ISO 9660 disc images, with archives inside archives one
level deep. `plan()` looks at the paths (folder listings, archive directories,
disc trees) without reading any image, and returns picklable `Batch`es plus an
`Entry` for every problem or ignored file. `walk()` opens one batch in a worker
and yields one `Item` (a readable stream) per member, or an `Entry` when a
member cannot be had. Whether an item is DICOM is decided later by the reader.

Safety, because an upload is untrusted input:
- nothing is extracted to a path built from a member's name: members are read
  as streams; a nested archive is spooled to an anonymous temporary file;
- symlinks are never followed (folders, zip, tar, 7z, Rock Ridge) and reported;
- member names that are absolute, carry a drive letter or a `..` are reported
  as unsafe and never read;
- archive bombs are stopped by the declared and the actually read sizes
  (`Limits`), and by the number of files;
- executables, viewers and autorun files are listed as ignored, never read or run.

Archive types are recognised by their first bytes, never by the extension.

The package, one module per job: `planning` (paths -> batches and entries),
`walking` (one batch -> items), `budget` (the bomb limits), `kinds` (what a file
is by its first bytes), `names` (unsafe, ignored and viewer names), `members`
(what both hand out), one module per container (`zip_archives`, `seven_zip`,
`tar_archives`, `disc_images`) and `streams` (the wrappers members are read through).
"""
from rules.containers.budget import Limits
from rules.containers.members import IGNORED, UNREADABLE, Batch, Entry, Item, Plan
from rules.containers.planning import plan, split
from rules.containers.streams import DamagedMember, failed_member
from rules.containers.walking import walk
from rules.containers.zip_archives import release

__all__ = ["IGNORED", "UNREADABLE", "Batch", "DamagedMember", "Entry", "Item", "Limits", "Plan", "failed_member", "plan",
           "release", "split", "walk"]
