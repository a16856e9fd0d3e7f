// SPDX-License-Identifier: Apache-2.0
// Who may tamper with a repository: rewind refuses one that a user other than
// the one running it (or root) could change, directly or by replacing a
// directory on its path (DESIGN.md "Security"). Checked at every open.
#pragma once

#include <string>

#include "io/fs.h"
#include "rewind/result.h"

namespace rwd::store {

// Checks the repository directory `path`, its `packs` and `roots`
// directories, and every directory on its real path up to `/`:
//  - none may be writable by others, nor by a group other than root's,
//    except root-owned sticky directories such as /tmp;
//  - each must belong to root or to the effective user (so, when running as
//    root, to root).
// Errors: kPermissionDenied naming the first offending path and the fix;
// kNotFound and others from stat when the path cannot be examined.
Status check_repository_permissions(io::Fs& fs, const std::string& path);

// The message for a caller that may not read the repository: non-root users
// reach it through rewindd's socket. Returns `e` unchanged for root or for
// errors other than kPermissionDenied.
Error explain_access_error(Error e, const std::string& path);

}  // namespace rwd::store
