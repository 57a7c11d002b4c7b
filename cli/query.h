// Helpers shared by the query commands (front, trials, show, status).
#pragma once

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "common/table.h"
#include "db/store.h"

namespace fnas::cli {

// A one-row table: as "column: value" lines in table format, else as the table.
void PrintRecord(std::ostream& out, const Table& record, Format format);

// Several titled tables: headed sections (table), "# title" blocks (csv), or
// one JSON object keyed by title (json). A title of a one-row table whose name
// starts with '=' is printed as a record (see PrintRecord) and as a JSON object.
void PrintSections(std::ostream& out, const std::vector<std::pair<std::string, Table>>& sections,
                   Format format);

// Table cell of a metric: NULL when not finite.
Table::Cell Metric(double v);

}  // namespace fnas::cli
