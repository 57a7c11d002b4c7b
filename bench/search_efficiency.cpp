// Replays quant-aware, moasha, asha and median over a sweep of settings on an
// unpruned study (see bench/search_efficiency): per pruner, the best recovered
// hypervolume fraction within each epoch budget, and the whole curve as CSV.
// The replays call the same Pruner code as the live driver (search/replay.h).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "db/store.h"
#include "search/hypervolume.h"
#include "search/replay.h"

namespace {

struct Point {
  std::string pruner, rungs;
  double eta = 0;
  int min_peers = 0;
  double max_rel_decrease = 0;  // quant-aware's collapse rule (1e9 = off)
  fnas::search::ReplayResult result;
};

std::string CollapseText(double max_rel_decrease) {
  return max_rel_decrease >= 1e9 ? "off" : std::to_string(static_cast<int>(max_rel_decrease));
}

std::string Join(const std::vector<double>& v) {
  std::string s;
  for (double x : v) s += (s.empty() ? "" : " ") + std::to_string(static_cast<int>(x));
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string db, csv;
  std::vector<double> budgets = {0.4, 0.5, 0.75};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--db") {
      db = v;
    } else if (k == "--csv") {
      csv = v;
    } else if (k == "--budgets") {
      budgets.clear();
      std::istringstream in(v);
      for (double b; in >> b;) budgets.push_back(b);
    } else {
      std::cerr << "usage: search_efficiency_cpp --db PATH [--budgets \"0.25 0.5\"] [--csv PATH]\n";
      return 2;
    }
  }
  if (db.empty()) {
    std::cerr << "search_efficiency_cpp: --db is required\n";
    return 2;
  }
  try {
    // Read-write only so that a study written by an older build is migrated
    // (as `trials` or `resume` would); nothing else is written.
    fnas::db::Store store(db, fnas::db::Store::Mode::kReadWrite);
    const fnas::search::ReplayInput input = fnas::search::LoadReplayInput(store);
    std::vector<int> recorded;
    for (const auto& r : input.rungs) {
      if (recorded.empty() || r.epoch > recorded.back()) recorded.push_back(r.epoch);
    }
    std::sort(recorded.begin(), recorded.end());
    recorded.erase(std::unique(recorded.begin(), recorded.end()), recorded.end());
    // Every set of at most three recorded rungs.
    std::vector<std::vector<double>> rung_sets;
    const size_t n = recorded.size();
    for (unsigned mask = 1; mask < (1u << n); ++mask) {
      std::vector<double> set;
      for (size_t i = 0; i < n; ++i) {
        if (mask & (1u << i)) set.push_back(recorded[i]);
      }
      if (set.size() <= 3) rung_sets.push_back(set);
    }
    std::vector<Point> points;
    for (const char* pruner : {"quant-aware", "moasha", "asha", "median"}) {
      const bool quant_aware = std::string(pruner) == "quant-aware";
      for (const auto& rungs : rung_sets) {
        for (double eta : {2.0, 3.0, 4.0}) {
          for (int min_peers : {2, 4}) {
            // The collapse rule on the quint8 accuracy drop: the default 10 %, 30 %, off.
            for (double collapse : {10.0, 30.0, 1e9}) {
              if (std::string(pruner) == "median" && eta != 3.0) continue;  // median has no eta
              if (!quant_aware && collapse != 10.0) continue;  // the others have no such rule
              fnas::search::PruningOptions o;
              o.pruner = pruner;
              o.rungs = rungs;
              o.eta = eta;
              o.min_peers = min_peers;
              o.max_rel_decrease = collapse;
              points.push_back(
                  {pruner, Join(rungs), eta, min_peers, collapse, fnas::search::Replay(input, o)});
            }
          }
        }
      }
    }
    size_t complete = 0;
    for (const auto& t : input.trials) complete += t.complete;
    std::printf("study %s: %zu trials (%zu complete), %d epochs each, rungs recorded:", db.c_str(),
                input.trials.size(), complete, input.epochs);
    for (int e : recorded) std::printf(" %d", e);
    std::map<std::string, size_t> settings;
    for (const auto& p : points) ++settings[p.pruner];
    std::printf(
        "\nfull front: %zu trials. Replayed settings: rung sets of at most 3 recorded rungs x eta "
        "{2, 3, 4} x min_peers {2, 4} (quant-aware also x max_rel_decrease {10, 30, off}): "
        "quant-aware %zu, moasha %zu, asha %zu, median %zu\n",
        points.front().result.full_front.size(), settings["quant-aware"], settings["moasha"],
        settings["asha"], settings["median"]);
    // The documented default setting of every pruner (docs/config.md): rungs
    // at 1/4 and 1/2 of the epochs, eta 3, min_peers 3, collapse at 10 %.
    std::printf("\ndefault setting (rungs 0.25 0.5, eta 3, min_peers 3, max_rel_decrease 10):\n");
    std::printf("%-12s %8s %8s %6s %6s\n", "pruner", "epochs", "hv", "pruned", "lost");
    for (const char* pruner : {"quant-aware", "moasha", "asha", "median"}) {
      fnas::search::PruningOptions o;
      o.pruner = pruner;
      o.rungs = {0.25, 0.5};
      try {
        const auto r = fnas::search::Replay(input, o);
        std::printf("%-12s %8.3f %8.4f %6zu %6zu\n", pruner, r.epoch_fraction, r.hv_fraction,
                    r.pruned.size(), r.lost.size());
      } catch (const std::exception& e) {
        std::printf("%-12s (%s)\n", pruner, e.what());
      }
    }
    std::printf(
        "\nbest replayed setting within each epoch budget (tuned on this very study, so "
        "an optimistic bound):\n");
    std::printf("%-8s %-12s %8s %8s %6s  %s\n", "budget", "pruner", "epochs", "hv", "lost",
                "setting");
    for (double b : budgets) {
      for (const char* pruner : {"quant-aware", "moasha", "asha", "median"}) {
        const Point* best = nullptr;
        for (const auto& p : points) {
          if (p.pruner != pruner || p.result.epoch_fraction > b + 1e-12) continue;
          if (!best || p.result.hv_fraction > best->result.hv_fraction + 1e-12 ||
              (p.result.hv_fraction > best->result.hv_fraction - 1e-12 &&
               p.result.epoch_fraction < best->result.epoch_fraction)) {
            best = &p;
          }
        }
        if (!best) {
          std::printf("%-8.2f %-12s %8s %8s %6s  (no setting trains this few epochs)\n", b, pruner,
                      "-", "-", "-");
          continue;
        }
        std::printf("%-8.2f %-12s %8.3f %8.4f %6zu  rungs %s, eta %g, min_peers %d%s\n", b, pruner,
                    best->result.epoch_fraction, best->result.hv_fraction, best->result.lost.size(),
                    best->rungs.c_str(), best->eta, best->min_peers,
                    std::string(pruner) == "quant-aware"
                        ? (", max_rel_decrease " + CollapseText(best->max_rel_decrease)).c_str()
                        : "");
      }
    }
    // The oracle bound: the fewest epochs any pruner judging at these rungs can
    // train while keeping a share of the full front's hypervolume: it trains
    // to the end the smallest subset of the full front that reaches the share
    // and stops every other trial at the first recorded rung.
    const auto& full = points.front().result.full_front;
    const double hv_full = fnas::search::Hypervolume(full, input.ref_macs);
    std::printf(
        "\noracle (smallest subset of the full front trained to the end, every other "
        "trial stopped at rung %d):\n",
        recorded.front());
    for (double share : {0.98, 0.95, 0.9}) {
      size_t best_size = full.size();
      for (unsigned mask = 0; mask < (1u << full.size()); ++mask) {
        std::vector<fnas::search::FrontPoint> kept;
        for (size_t i = 0; i < full.size(); ++i) {
          if (mask & (1u << i)) kept.push_back(full[i]);
        }
        if (kept.size() < best_size &&
            fnas::search::Hypervolume(kept, input.ref_macs) >= share * hv_full - 1e-9) {
          best_size = kept.size();
        }
      }
      const double epochs = static_cast<double>(best_size) * input.epochs +
                            static_cast<double>(input.trials.size() - best_size) * recorded.front();
      std::printf("  hv >= %.2f: %zu of %zu front trials to the end, epoch fraction >= %.3f\n",
                  share, best_size, full.size(),
                  epochs / (static_cast<double>(input.trials.size()) * input.epochs));
    }
    // Why: how the final front looked at each rung. For every member of the
    // full (test) front, its quint8 validation accuracy at the rung, its rank
    // by that accuracy among the trials at the rung (1 = best), whether it was
    // on the rung's first front on (conv MACs, quint8 accuracy) -- the one
    // quant-aware protects -- and its quint8 relative decrease there.
    std::printf(
        "\nthe full front at the rungs (quint8 validation accuracy, its rank among the "
        "rung's trials, * = on the rung's first front, rel. decrease %%):\n");
    std::printf("%-30s %9s %7s", "front member", "MMACs", "test q8");
    for (int e : recorded) std::printf("  %-22s", ("rung " + std::to_string(e)).c_str());
    std::printf("\n");
    std::map<int, std::vector<fnas::search::RungResult>> at;
    for (const auto& r : input.rungs) at[r.epoch].push_back(r);
    for (const auto& f : full) {
      std::string name;
      for (const auto& t : input.trials) {
        if (t.trial_id == f.id) name = t.name;
      }
      std::printf("%-30s %9.3f %7.4f", name.c_str(), static_cast<double>(f.macs) / 1e6, f.accuracy);
      for (int e : recorded) {
        const auto& rung = at[e];
        std::vector<fnas::search::RankPoint> pts;
        for (const auto& r : rung) pts.push_back({static_cast<double>(r.macs_conv), r.acc_q});
        const std::vector<int> ranks = fnas::search::NonDominatedRanks(pts, 0);
        char cell[64] = "-";
        for (size_t i = 0; i < rung.size(); ++i) {
          if (rung[i].trial_id != f.id) continue;
          int better = 0;
          for (const auto& r : rung) better += r.acc_q > rung[i].acc_q;
          std::snprintf(cell, sizeof cell, "%.3f #%d/%zu%s %.1f%%", rung[i].acc_q, better + 1,
                        rung.size(), ranks[i] == 0 ? "*" : " ", rung[i].rel_decrease);
        }
        std::printf("  %-22s", cell);
      }
      std::printf("\n");
    }
    std::ofstream file;
    if (!csv.empty()) {
      file.open(csv);
      if (!file) {
        std::cerr << csv << ": cannot write the curve\n";
        return 1;
      }
    } else {
      std::cout << "\n# hypervolume fraction vs. epoch fraction, every setting\n";
    }
    std::ostream& out = csv.empty() ? std::cout : file;
    out << "pruner,rungs,eta,min_peers,max_rel_decrease,epoch_fraction,hv_fraction,pruned,"
           "front_lost\n";
    for (const auto& p : points) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "%s,%s,%g,%d,%s,%.6f,%.6f,%zu,%zu\n", p.pruner.c_str(),
                    p.rungs.c_str(), p.eta, p.min_peers,
                    p.pruner == "quant-aware" ? CollapseText(p.max_rel_decrease).c_str() : "",
                    p.result.epoch_fraction, p.result.hv_fraction, p.result.pruned.size(),
                    p.result.lost.size());
      out << buf;
    }
    if (!csv.empty()) std::cout << "\ncurve: " << csv << "\n";
  } catch (const std::exception& e) {
    std::cerr << "search_efficiency: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
