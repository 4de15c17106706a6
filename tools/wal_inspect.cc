#include "tools/wal_inspect.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <system_error>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/struct.pb.h"
#include "persistence/file_util.h"
#include "persistence/wal.pb.h"
#include "persistence/wal_format.h"
#include "persistence/wal_record.h"
#include "protocol/seatlock.pb.h"
#include "tools/format.h"

namespace seatlock::tools {
namespace {

namespace fs = std::filesystem;

constexpr size_t kLsnDigits = 20;

// "<prefix><20 digits><suffix>" -> the number. Anything else is not ours.
bool ParseNumberedName(const std::string& name, const std::string& prefix,
                       const std::string& suffix, uint64_t* n) {
  if (name.size() != prefix.size() + kLsnDigits + suffix.size()) return false;
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  if (name.compare(prefix.size() + kLsnDigits, suffix.size(), suffix) != 0) return false;
  uint64_t v = 0;
  for (size_t i = prefix.size(); i < prefix.size() + kLsnDigits; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *n = v;
  return true;
}

struct WalFile {
  std::string path;
  uint64_t lsn = 0;  // segment: its first LSN; snapshot: it covers LSN < lsn
};

struct ShardFiles {
  std::string dir;
  std::vector<WalFile> snapshots;  // ascending; the last is the one recovery loads
  std::vector<WalFile> segments;   // in LSN order
  size_t tmp_files = 0;            // unfinished snapshot-*.tmp (recovery deletes them)
};

ShardFiles ListShard(const std::string& dir) {
  ShardFiles s;
  s.dir = dir;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    uint64_t n = 0;
    if (ParseNumberedName(name, "wal-", ".log", &n)) {
      s.segments.push_back({it->path().string(), n});
    } else if (ParseNumberedName(name, "snapshot-", ".snap", &n)) {
      s.snapshots.push_back({it->path().string(), n});
    } else if (ParseNumberedName(name, "snapshot-", ".tmp", &n)) {
      ++s.tmp_files;
    }
  }
  auto by_lsn = [](const WalFile& a, const WalFile& b) { return a.lsn < b.lsn; };
  std::sort(s.segments.begin(), s.segments.end(), by_lsn);
  std::sort(s.snapshots.begin(), s.snapshots.end(), by_lsn);
  return s;
}

// `dir` itself when it holds log files, else its shard-<i> directories in
// shard order.
absl::StatusOr<std::vector<ShardFiles>> Discover(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(
        dir,
        " is not a directory: pass seatlockd's data dir (--data-dir) or one of its shard-* dirs"));
  }
  ShardFiles self = ListShard(dir);
  if (!self.segments.empty() || !self.snapshots.empty())
    return std::vector<ShardFiles>{std::move(self)};
  std::vector<std::pair<uint64_t, std::string>> shards;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("shard-", 0) != 0 || name.size() == 6 || !it->is_directory()) continue;
    if (name.find_first_not_of("0123456789", 6) != std::string::npos) continue;
    shards.emplace_back(std::stoull(name.substr(6)), it->path().string());
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  if (shards.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no write-ahead log in ", dir,
                     ": no wal-*.log or snapshot-*.snap files and no shard-* "
                     "directories; pass seatlockd's data dir (--data-dir) or one of "
                     "its shard-* dirs"));
  }
  std::sort(shards.begin(), shards.end());
  std::vector<ShardFiles> out;
  out.reserve(shards.size());
  for (const auto& [index, path] : shards) out.push_back(ListShard(path));
  return out;
}

// Seat labels of the events defined so far in one shard's records, to show
// recorded seat positions (section index, seat index) as "103/F/12".
class LayoutBook {
 public:
  void Add(const wire::DefineEventRequest& layout) {
    Event& e = events_[layout.event_id()];
    e.layout = layout;
    e.row_starts.clear();
    for (const wire::SectionLayout& section : layout.sections()) {
      std::vector<uint32_t> starts;
      uint32_t at = 0;
      for (const wire::RowLayout& row : section.rows()) {
        starts.push_back(at);
        at += SeatsIn(row);
      }
      e.row_starts.push_back(std::move(starts));
    }
  }

  // A position of an unknown event or section prints as "?<section>#<seat>".
  wire::SeatRef Resolve(const std::string& event_id, const wal::SeatPos& pos) const {
    wire::SeatRef ref;
    auto it = events_.find(event_id);
    if (it == events_.end() ||
        pos.section() >= static_cast<uint32_t>(it->second.layout.sections_size())) {
      ref.set_section(absl::StrCat("?", pos.section()));
      ref.set_index(pos.seat());
      return ref;
    }
    const wire::SectionLayout& section =
        it->second.layout.sections(static_cast<int>(pos.section()));
    const std::vector<uint32_t>& starts = it->second.row_starts[pos.section()];
    ref.set_section(section.label());
    ref.set_index(pos.seat());
    auto row_it = std::upper_bound(starts.begin(), starts.end(), pos.seat());
    if (row_it == starts.begin()) return ref;
    const int row_index = static_cast<int>(row_it - starts.begin() - 1);
    const wire::RowLayout& row = section.rows(row_index);
    const uint32_t in_row = pos.seat() - starts[static_cast<size_t>(row_index)];
    if (in_row >= SeatsIn(row)) return ref;  // past the last row
    ref.set_row(row.label());
    ref.set_seat(row.seat_labels_size() > 0 ? row.seat_labels(static_cast<int>(in_row))
                                            : std::to_string(in_row + 1));
    return ref;
  }

  static uint32_t SeatsIn(const wire::RowLayout& row) {
    return row.seat_labels_size() > 0 ? static_cast<uint32_t>(row.seat_labels_size())
                                      : row.seat_count();
  }

 private:
  struct Event {
    wire::DefineEventRequest layout;
    std::vector<std::vector<uint32_t>> row_starts;  // per section: first seat index of each row
  };
  std::map<std::string, Event> events_;
};

const char* TypeName(wal::RecordType type) {
  switch (type) {
    case wal::RecordType::kDefineEvent:
      return "DEFINE_EVENT";
    case wal::RecordType::kConfirm:
      return "CONFIRM";
    case wal::RecordType::kConfirmRefused:
      return "CONFIRM_REFUSED";
    case wal::RecordType::kCancel:
      return "CANCEL";
    case wal::RecordType::kFencing:
      return "FENCING";
    case wal::RecordType::kRoom:
      return "ROOM";
    case wal::RecordType::kDeleteEvent:
      return "DELETE_EVENT";
    case wal::RecordType::kEpoch:
      return "EPOCH";
  }
  return "UNKNOWN";
}

const char* MessageName(wal::RecordType type) {
  switch (type) {
    case wal::RecordType::kDefineEvent:
      return "seatlock.wal.DefineEvent";
    case wal::RecordType::kConfirm:
      return "seatlock.wal.Confirm";
    case wal::RecordType::kConfirmRefused:
      return "seatlock.wal.ConfirmRefused";
    case wal::RecordType::kCancel:
      return "seatlock.wal.Cancel";
    case wal::RecordType::kFencing:
      return "seatlock.wal.Fencing";
    case wal::RecordType::kRoom:
      return "seatlock.wal.RoomRecord";
    case wal::RecordType::kDeleteEvent:
      return "seatlock.wal.DeleteEvent";
    case wal::RecordType::kEpoch:
      return "seatlock.wal.Epoch";
  }
  return "?";
}

// A string field for a text line: quoted when empty or when it has blanks.
std::string Q(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \t\"") == std::string::npos) return s;
  return absl::StrCat("\"", s, "\"");
}

struct DecodedRecord {
  bool ok = false;               // the payload parsed as its type's message
  std::string text;              // "event=gig sections=6 ..."
  google::protobuf::Value json;  // the payload (DEFINE_EVENT: the layout) as JSON
};

void AddLabels(const LayoutBook& book, const std::string& event_id,
               const google::protobuf::RepeatedPtrField<wal::SeatPos>& positions,
               const char* json_key, std::string* text, google::protobuf::Value* json) {
  google::protobuf::RepeatedPtrField<wire::SeatRef> refs;
  google::protobuf::Value list;
  list.mutable_list_value();
  for (const wal::SeatPos& p : positions) {
    *refs.Add() = book.Resolve(event_id, p);
    *list.mutable_list_value()->add_values() = JsonString(SeatString(refs[refs.size() - 1]));
  }
  *text += SeatListString(refs);
  (*json->mutable_struct_value()->mutable_fields())[json_key] = std::move(list);
}

DecodedRecord Decode(const wal::Record& rec, LayoutBook* book) {
  DecodedRecord d;
  const std::string payload(rec.payload);
  switch (rec.type) {
    case wal::RecordType::kDefineEvent: {
      wal::DefineEvent m;
      wire::DefineEventRequest layout;
      if (!m.ParseFromString(payload) || !layout.ParseFromString(m.define_event_request()))
        return d;
      book->Add(layout);
      uint64_t rows = 0;
      uint64_t seats = 0;
      for (const auto& section : layout.sections()) {
        rows += static_cast<uint64_t>(section.rows_size());
        for (const auto& row : section.rows()) seats += LayoutBook::SeatsIn(row);
      }
      d.text = absl::StrCat("event=", Q(layout.event_id()), " sections=", layout.sections_size(),
                            " rows=", rows, " seats=", seats);
      d.json = ToJsonValue(layout);
      break;
    }
    case wal::RecordType::kConfirm: {
      wal::Confirm m;
      if (!m.ParseFromString(payload)) return d;
      d.json = ToJsonValue(m);
      d.text = absl::StrCat("booking=", m.booking_id(), " hold=", m.hold_id(),
                            " token=", m.fencing_token(), " event=", Q(m.event_id()), " seats=");
      AddLabels(*book, m.event_id(), m.seats(), "seat_labels", &d.text, &d.json);
      absl::StrAppend(&d.text, " holder=", Q(m.holder()), " key=", Q(m.idempotency_key()),
                      " payment=", Q(m.payment_ref()), " at=", FormatUtc(m.confirmed_ms()),
                      m.hold_lapsed() ? " lapsed" : "");
      break;
    }
    case wal::RecordType::kConfirmRefused: {
      wal::ConfirmRefused m;
      if (!m.ParseFromString(payload)) return d;
      d.json = ToJsonValue(m);
      d.text = absl::StrCat("hold=", m.hold_id(), " event=", Q(m.event_id()), " seats=");
      AddLabels(*book, m.event_id(), m.seats(), "seat_labels", &d.text, &d.json);
      d.text += " taken=";
      AddLabels(*book, m.event_id(), m.taken(), "taken_labels", &d.text, &d.json);
      absl::StrAppend(&d.text, " holder=", Q(m.holder()), " key=", Q(m.idempotency_key()),
                      " payment=", Q(m.payment_ref()), " at=", FormatUtc(m.refused_ms()));
      break;
    }
    case wal::RecordType::kCancel: {
      wal::Cancel m;
      if (!m.ParseFromString(payload)) return d;
      d.json = ToJsonValue(m);
      d.text = absl::StrCat("booking=", m.booking_id(), " at=", FormatUtc(m.cancelled_ms()));
      break;
    }
    case wal::RecordType::kFencing: {
      wal::Fencing m;
      if (!m.ParseFromString(payload)) return d;
      d.json = ToJsonValue(m);
      d.text = absl::StrCat("high_water=", m.high_water());
      if (m.next_booking_seq() != 0)
        absl::StrAppend(&d.text, " next_booking_seq=", m.next_booking_seq());
      break;
    }
    case wal::RecordType::kEpoch: {
      wal::Epoch m;
      if (!m.ParseFromString(payload)) return d;
      d.json = ToJsonValue(m);
      d.text =
          absl::StrCat("epoch=", m.epoch(), " node=", Q(m.node_id()), " at=", FormatUtc(m.at_ms()));
      break;
    }
    case wal::RecordType::kDeleteEvent: {
      wal::DeleteEvent m;
      if (!m.ParseFromString(payload)) return d;
      d.json = ToJsonValue(m);
      d.text = absl::StrCat("event=", Q(m.event_id()), " at=", FormatUtc(m.deleted_ms()),
                            m.force() ? " force" : "");
      break;
    }
    case wal::RecordType::kRoom: {
      wal::RoomRecord m;
      if (!m.ParseFromString(payload)) return d;
      d.json = ToJsonValue(m);
      d.text = absl::StrCat("event=", Q(m.event_id()));
      switch (m.change_case()) {
        case wal::RoomRecord::kConfig:
          absl::StrAppend(
              &d.text, " config mode=", m.config().mode() == 0 ? "rate" : "capacity",
              " rate=", m.config().rate_per_sec(), " max_active=", m.config().max_active(),
              " batch=", m.config().batch_size(), " on_sale=", FormatUtc(m.config().on_sale_ms()));
          break;
        case wal::RoomRecord::kJoin:
          absl::StrAppend(&d.text, " join number=", m.join().number(),
                          " buyer=", Q(m.join().buyer_key()),
                          " at=", FormatUtc(m.join().joined_ms()));
          break;
        case wal::RoomRecord::kOpen:
          absl::StrAppend(&d.text, " open seed=", m.open().shuffle_seed());
          break;
        case wal::RoomRecord::kAdmit:
          absl::StrAppend(&d.text, " admit buyers=", m.admit().numbers_size(),
                          " at=", FormatUtc(m.admit().admitted_ms()));
          break;
        case wal::RoomRecord::kEnd:
          absl::StrAppend(&d.text, " end buyers=", m.end().numbers_size(),
                          " state=", m.end().state());
          break;
        default:
          return d;
      }
      break;
    }
  }
  d.ok = true;
  return d;
}

// One record, or the damage that stops a file.
struct Damage {
  std::string file;
  uint64_t offset = 0;
  uint64_t lsn = 0;  // 0: not a log record (snapshot, or a gap)
  std::string kind;  // "corrupt", "truncated", "undecodable", "gap", "unreadable"
  std::string message;
};

std::string Where(const Damage& d) { return absl::StrCat(d.file, ":", d.offset); }

std::string DamageWhy(wal::RecordReader::Result r) {
  return r == wal::RecordReader::Result::kTruncated
             ? "the file ends inside it"
             : "its checksum, type, length or reserved bytes are wrong";
}

std::string LsnText(uint64_t lsn) { return lsn != 0 ? absl::StrCat(" (LSN ", lsn, ")") : ""; }

// What seatlockd will do about damage in a log segment.
std::string SegmentConsequence(bool last_segment) {
  return last_segment
             ? "it is in the last segment, so seatlockd cuts the log there at its next start "
               "(normal for a torn tail after a crash; many bytes after it suggest bit rot)"
             : "seatlockd refuses to start: back up the shard dir, then start it with --wal-repair "
               "to cut the log here (every later record is lost)";
}

google::protobuf::Value DamageJson(const Damage& d) {
  google::protobuf::Value v;
  auto& f = *v.mutable_struct_value()->mutable_fields();
  f["file"] = JsonString(d.file);
  f["offset"] = JsonNumber(static_cast<double>(d.offset));
  if (d.lsn != 0) f["lsn"] = JsonNumber(static_cast<double>(d.lsn));
  f["kind"] = JsonString(d.kind);
  f["message"] = JsonString(d.message);
  return v;
}

// Reads one file and hands each record to `on_record` (with its LSN, 0 in a
// snapshot). Returns the damage that stopped it, if any.
template <class OnRecord>
std::optional<Damage> ScanFile(const WalFile& file, bool snapshot, bool last_segment,
                               LayoutBook* book, uint64_t* bytes_read, OnRecord on_record) {
  std::string bytes;
  if (absl::Status st = files::ReadFile(file.path, &bytes); !st.ok()) {
    return Damage{file.path, 0, 0, "unreadable", std::string(st.message())};
  }
  *bytes_read += bytes.size();
  wal::RecordReader reader(bytes);
  wal::Record rec;
  uint64_t lsn = snapshot ? 0 : file.lsn;
  for (;;) {
    const wal::RecordReader::Result r = reader.Next(&rec);
    if (r == wal::RecordReader::Result::kEof) return std::nullopt;
    if (r != wal::RecordReader::Result::kRecord) {
      Damage d{file.path, reader.bad_offset(), lsn,
               r == wal::RecordReader::Result::kTruncated ? "truncated" : "corrupt", ""};
      d.message = absl::StrCat(
          d.kind, " record at ", Where(d), LsnText(lsn), ": ", DamageWhy(r), "; ",
          bytes.size() - reader.bad_offset(), " bytes from there to the end of the file; ",
          snapshot ? "seatlockd refuses to start with this snapshot: move it out of the "
                     "way to recover from the log alone (only if the log starts at LSN 1)"
                   : SegmentConsequence(last_segment));
      return d;
    }
    DecodedRecord decoded = Decode(rec, book);
    if (!decoded.ok) {
      Damage d{file.path, rec.offset, lsn, "undecodable", ""};
      d.message = absl::StrCat(TypeName(rec.type), " record at ", Where(d), LsnText(lsn),
                               ": it passes its checksum but its payload does not decode as ",
                               MessageName(rec.type), "; seatlockd cannot replay it");
      return d;
    }
    on_record(lsn, rec, decoded);
    if (!snapshot) ++lsn;
  }
}

google::protobuf::Struct RecordJson(const std::string& shard_dir, const WalFile& file,
                                    bool snapshot, uint64_t lsn, const wal::Record& rec,
                                    const DecodedRecord& decoded) {
  google::protobuf::Struct s;
  auto& f = *s.mutable_fields();
  f["shard_dir"] = JsonString(shard_dir);
  f["file"] = JsonString(file.path);
  f["kind"] = JsonString(snapshot ? "snapshot" : "segment");
  if (snapshot) {
    f["snapshot_lsn"] = JsonNumber(static_cast<double>(file.lsn));
  } else {
    f["lsn"] = JsonNumber(static_cast<double>(lsn));
  }
  f["offset"] = JsonNumber(static_cast<double>(rec.offset));
  f["payload_bytes"] = JsonNumber(static_cast<double>(rec.payload.size()));
  f["type"] = JsonString(TypeName(rec.type));
  f["payload"] = decoded.json;
  return s;
}

}  // namespace

int WalDump(const std::string& dir, bool json, std::ostream& out, std::ostream& err) {
  auto shards = Discover(dir);
  if (!shards.ok()) {
    err << "seatctl: wal dump: " << shards.status().message() << "\n";
    return 2;
  }
  if (!json) {
    std::string layout;
    if (files::ReadFile((fs::path(dir) / "SHARDS").string(), &layout).ok() && !layout.empty()) {
      while (!layout.empty() && (layout.back() == '\n' || layout.back() == ' ')) layout.pop_back();
      out << "data dir " << dir << ": " << layout << "\n";
    }
  }
  std::optional<Damage> first_damage;
  for (const ShardFiles& shard : *shards) {
    LayoutBook book;
    if (!json) {
      out << "\n== " << shard.dir << ": "
          << (shard.snapshots.empty() ? "no snapshot" : "1 snapshot") << ", "
          << shard.segments.size() << (shard.segments.size() == 1 ? " segment" : " segments")
          << "\n";
      if (shard.snapshots.size() > 1) {
        out << "   (" << shard.snapshots.size() - 1
            << " older snapshot(s) not shown: recovery loads the newest)\n";
      }
      if (shard.tmp_files > 0) {
        out << "   (" << shard.tmp_files << " unfinished snapshot-*.tmp file(s) ignored)\n";
      }
    }
    auto dump = [&](const WalFile& file, bool snapshot, bool last_segment) {
      uint64_t size = 0;
      if (!json) {
        std::error_code ec;
        const auto file_size = fs::file_size(file.path, ec);
        out << (snapshot ? absl::StrCat("snapshot ", file.path, " (covers LSN < ", file.lsn, ")")
                         : absl::StrCat("segment ", file.path, " (first LSN ", file.lsn, ")"))
            << ", " << (ec ? std::string("?") : FormatBytes(file_size)) << "\n";
      }
      auto damage = ScanFile(
          file, snapshot, last_segment, &book, &size,
          [&](uint64_t lsn, const wal::Record& rec, const DecodedRecord& decoded) {
            if (json) {
              out << ToJson(RecordJson(shard.dir, file, snapshot, lsn, rec, decoded)) << "\n";
            } else {
              out << absl::StrFormat("  %-12s @%-9d %-15s %s\n",
                                     snapshot ? std::string("snapshot") : absl::StrCat("LSN ", lsn),
                                     rec.offset, TypeName(rec.type), decoded.text);
            }
          });
      if (damage) {
        if (json) {
          google::protobuf::Struct s;
          (*s.mutable_fields())["shard_dir"] = JsonString(shard.dir);
          (*s.mutable_fields())["error"] = DamageJson(*damage);
          out << ToJson(s) << "\n";
        } else {
          out << "  !! " << damage->message << "\n";
        }
        if (!first_damage) first_damage = damage;
      }
    };
    if (!shard.snapshots.empty()) dump(shard.snapshots.back(), true, false);
    for (size_t i = 0; i < shard.segments.size(); ++i) {
      dump(shard.segments[i], false, i + 1 == shard.segments.size());
    }
  }
  if (first_damage) {
    err << "seatctl: wal dump: damage found; first at " << Where(*first_damage)
        << " (run 'seatctl wal verify " << dir << "' for a summary)\n";
    return 1;
  }
  return 0;
}

namespace {

struct ShardReport {
  std::string dir;
  std::string snapshot;
  uint64_t snapshot_lsn = 0;
  uint64_t snapshot_records = 0;
  uint64_t snapshot_bytes = 0;
  uint64_t segments = 0;
  uint64_t records = 0;  // log records (not counting the snapshot's)
  uint64_t bytes = 0;    // of the log segments
  uint64_t first_lsn = 0;
  uint64_t next_lsn = 0;
  std::optional<Damage> damage;
};

ShardReport CheckShard(const ShardFiles& shard) {
  ShardReport r;
  r.dir = shard.dir;
  LayoutBook book;
  if (!shard.snapshots.empty()) {
    const WalFile& snap = shard.snapshots.back();
    r.snapshot = snap.path;
    r.snapshot_lsn = snap.lsn;
    r.damage =
        ScanFile(snap, true, false, &book, &r.snapshot_bytes,
                 [&](uint64_t, const wal::Record&, const DecodedRecord&) { ++r.snapshot_records; });
    if (r.damage) return r;
  }
  r.segments = shard.segments.size();
  if (shard.segments.empty()) return r;
  r.first_lsn = r.next_lsn = shard.segments.front().lsn;
  const std::string& first_path = shard.segments.front().path;
  if (shard.snapshots.empty() && r.first_lsn != 1) {
    r.damage = Damage{first_path, 0, 0, "gap",
                      absl::StrCat("the log starts at LSN ", r.first_lsn,
                                   " but there is no snapshot: records 1..", r.first_lsn - 1,
                                   " are missing; seatlockd would start without them")};
    return r;
  }
  if (!shard.snapshots.empty() && r.first_lsn > r.snapshot_lsn) {
    r.damage = Damage{first_path, 0, 0, "gap",
                      absl::StrCat("the snapshot covers LSN < ", r.snapshot_lsn,
                                   " but the log starts at LSN ", r.first_lsn, ": records ",
                                   r.snapshot_lsn, "..", r.first_lsn - 1, " are missing")};
    return r;
  }
  for (size_t i = 0; i < shard.segments.size(); ++i) {
    const WalFile& seg = shard.segments[i];
    if (seg.lsn != r.next_lsn) {
      r.damage = Damage{
          seg.path, 0, 0, "gap",
          absl::StrCat(
              "segment is named for LSN ", seg.lsn, " but the segments before it end at LSN ",
              r.next_lsn - 1,
              " (a missing or extra segment); seatlockd refuses to start: "
              "back up the shard dir, then start it with --wal-repair to cut the log there")};
      return r;
    }
    r.damage = ScanFile(seg, false, i + 1 == shard.segments.size(), &book, &r.bytes,
                        [&](uint64_t, const wal::Record&, const DecodedRecord&) {
                          ++r.records;
                          ++r.next_lsn;
                        });
    if (r.damage) return r;
  }
  return r;
}

google::protobuf::Value ReportJson(const ShardReport& r) {
  google::protobuf::Value v;
  auto& f = *v.mutable_struct_value()->mutable_fields();
  f["dir"] = JsonString(r.dir);
  f["ok"] = JsonBool(!r.damage);
  f["snapshot"] = JsonString(r.snapshot);
  f["snapshot_lsn"] = JsonNumber(static_cast<double>(r.snapshot_lsn));
  f["snapshot_records"] = JsonNumber(static_cast<double>(r.snapshot_records));
  f["snapshot_bytes"] = JsonNumber(static_cast<double>(r.snapshot_bytes));
  f["segments"] = JsonNumber(static_cast<double>(r.segments));
  f["records"] = JsonNumber(static_cast<double>(r.records));
  f["bytes"] = JsonNumber(static_cast<double>(r.bytes));
  f["first_lsn"] = JsonNumber(static_cast<double>(r.first_lsn));
  f["last_lsn"] = JsonNumber(static_cast<double>(r.next_lsn == 0 ? 0 : r.next_lsn - 1));
  if (r.damage) f["error"] = DamageJson(*r.damage);
  return v;
}

std::string ReportText(const ShardReport& r) {
  if (r.damage) return absl::StrCat("BAD  ", r.dir, ": ", r.damage->message, "\n");
  std::string snap = "no snapshot";
  if (!r.snapshot.empty()) {
    snap = absl::StrCat(fs::path(r.snapshot).filename().string(), " (", r.snapshot_records,
                        " records, ", FormatBytes(r.snapshot_bytes), ", covers LSN < ",
                        r.snapshot_lsn, ")");
  }
  std::string log = absl::StrCat(r.segments, r.segments == 1 ? " segment" : " segments");
  if (r.records > 0) {
    absl::StrAppend(&log, ", LSN ", r.first_lsn, "..", r.next_lsn - 1);
  }
  absl::StrAppend(&log, " (", r.records, r.records == 1 ? " record" : " records", ", ",
                  FormatBytes(r.bytes), ")");
  return absl::StrCat("OK   ", r.dir, ": ", snap, "; ", log, "\n");
}

}  // namespace

int WalVerify(const std::string& dir, bool json, std::ostream& out, std::ostream& err) {
  auto shards = Discover(dir);
  if (!shards.ok()) {
    err << "seatctl: wal verify: " << shards.status().message() << "\n";
    return 2;
  }
  std::vector<ShardReport> reports;
  size_t bad = 0;
  uint64_t records = 0;
  const ShardReport* first_bad = nullptr;
  for (const ShardFiles& shard : *shards) reports.push_back(CheckShard(shard));
  for (const ShardReport& r : reports) {
    records += r.records + r.snapshot_records;
    if (r.damage) {
      ++bad;
      if (first_bad == nullptr) first_bad = &r;
    }
  }
  if (json) {
    google::protobuf::Struct s;
    auto& f = *s.mutable_fields();
    f["ok"] = JsonBool(bad == 0);
    google::protobuf::Value list;
    for (const ShardReport& r : reports) *list.mutable_list_value()->add_values() = ReportJson(r);
    f["shards"] = list;
    out << ToJson(s) << "\n";
  } else {
    for (const ShardReport& r : reports) out << ReportText(r);
  }
  if (bad > 0) {
    err << "seatctl: wal verify: damage in " << bad << " of " << reports.size()
        << " shard dir(s); first at " << Where(*first_bad->damage) << " ("
        << first_bad->damage->kind << ")\n";
    return 1;
  }
  if (!json) {
    out << "verified " << reports.size() << (reports.size() == 1 ? " shard dir: " : " shard dirs: ")
        << records << " records, every checksum matches and every payload decodes\n";
  }
  return 0;
}

}  // namespace seatlock::tools
