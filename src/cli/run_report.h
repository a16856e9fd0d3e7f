// SPDX-License-Identifier: Apache-2.0
// What `rewind health`, `rewind run` and `rewind confirm` share: health
// reports and automatic-rollback reports as text and JSON.
#pragma once

#include <cstdio>

#include "cli/command.h"

namespace rwd::cli {

json health_json(const HealthReport& r);
// One line per check.
void print_health(const HealthReport& r, std::FILE* out);
// 0, 6 or 7 (DESIGN.md's table).
int health_exit_code(HealthLevel l);
json auto_rollback_json(const AutoRollbackReport& r);
json confirmation_json(const Confirmation& c);

Command health_command();
Command run_command();
Command confirm_command();

}  // namespace rwd::cli
