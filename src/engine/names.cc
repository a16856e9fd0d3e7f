// SPDX-License-Identifier: Apache-2.0
// The names of the public enums, as the CLI, the journal and JSON spell them.
#include <array>
#include <utility>

#include "rewind/rollback.h"

namespace rwd {

namespace {

template <typename E, size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E v) {
  for (const auto& [e, n] : table)
    if (e == v) return n;
  return "unknown";
}

template <typename E, size_t N>
std::optional<E> parse_of(const std::array<std::pair<E, std::string_view>, N>& table,
                          std::string_view name) {
  for (const auto& [e, n] : table)
    if (n == name) return e;
  return std::nullopt;
}

constexpr std::array<std::pair<ComponentCategory, std::string_view>, 7> kCategories{{
    {ComponentCategory::kKernelCore, "kernel_core"},
    {ComponentCategory::kSystemServices, "system_services"},
    {ComponentCategory::kDeviceDrivers, "device_drivers"},
    {ComponentCategory::kConfiguration, "configuration"},
    {ComponentCategory::kUserData, "user_data"},
    {ComponentCategory::kDatabase, "database"},
    {ComponentCategory::kOther, "other"},
}};

constexpr std::array<std::pair<RollbackScope, std::string_view>, 4> kScopes{{
    {RollbackScope::kFull, "full"},
    {RollbackScope::kComponent, "component"},
    {RollbackScope::kPartial, "partial"},
    {RollbackScope::kIncremental, "incremental"},
}};

constexpr std::array<std::pair<RollbackPhase, std::string_view>, 8> kPhases{{
    {RollbackPhase::kInitializing, "Initializing"},
    {RollbackPhase::kCreatingRecoveryPoint, "CreatingRecoveryPoint"},
    {RollbackPhase::kSnapshotValidation, "SnapshotValidation"},
    {RollbackPhase::kComponentRollback, "ComponentRollback"},
    {RollbackPhase::kServiceRestoration, "ServiceRestoration"},
    {RollbackPhase::kFinalization, "Finalization"},
    {RollbackPhase::kCompleted, "Completed"},
    {RollbackPhase::kFailed, "Failed"},
}};

}  // namespace

std::string_view category_name(ComponentCategory c) { return name_of(kCategories, c); }
std::optional<ComponentCategory> parse_category(std::string_view n) {
  return parse_of(kCategories, n);
}
std::string_view scope_name(RollbackScope s) { return name_of(kScopes, s); }
std::optional<RollbackScope> parse_scope(std::string_view n) { return parse_of(kScopes, n); }
std::string_view phase_name(RollbackPhase p) { return name_of(kPhases, p); }
std::optional<RollbackPhase> parse_phase(std::string_view n) { return parse_of(kPhases, n); }

}  // namespace rwd
