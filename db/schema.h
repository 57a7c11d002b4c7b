// The study database's schema: the SQL that creates and migrates it
// (docs/database.md documents every table and view). Store applies it; nothing
// else runs DDL.
//
// To change the schema, append a migration in db/schema.cpp and bump kVersion
// (a static_assert there checks the two agree). Never edit a released step: a
// file written by an older build is brought forward by running the steps it
// lacks, in order, in one transaction.
#pragma once

#include <string>

namespace fnas::db::schema {

// The schema version this build writes: the number of migrations.
constexpr int kVersion = 7;

// Migration `version` (1..kVersion): the SQL that brings a file from schema
// version-1 to `version`. Tables and columns only; views and triggers are
// DerivedObjects().
const char* Migration(int version);

// The views and triggers of the current schema, dropped and recreated after
// every migration (so they always describe the latest tables).
std::string DerivedObjects();

}  // namespace fnas::db::schema
