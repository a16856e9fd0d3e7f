// SPDX-License-Identifier: Apache-2.0
#include "daemon/monitor.h"

namespace rwd::daemon {

RoundReport Monitor::round(const MonitorEnv&, const LoadedConfig&, StateStore&, CancelToken*,
                           bool) {
  return RoundReport{};
}

}  // namespace rwd::daemon
