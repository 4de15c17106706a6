// RenderSeatMap: draws one section (a GET_SEATS reply) as a terminal seat
// map, one line per row, one character per seat, nearest the stage on top:
//
//   gig / section 103
//
//            [ STAGE ]
//        1          11
//     A  ..hh...... ..........
//     B  XXXX......
//
//   . free 24   h held 2   X sold 4   of 30 seats (1 hold, 1 booking)
//
// Seats are in groups of ten, so a seat can be counted off; the ruler of
// first seat numbers is shown when every row is numbered 1..n. A pure
// function of its input; any thread.
#ifndef SEATLOCK_TOOLS_SEAT_MAP_H_
#define SEATLOCK_TOOLS_SEAT_MAP_H_

#include <cstdint>
#include <string>

#include "protocol/seatlock.pb.h"

namespace seatlock::tools {

inline constexpr char kFreeSeat = '.';
inline constexpr char kHeldSeat = 'h';
inline constexpr char kSoldSeat = 'X';
inline constexpr size_t kSeatGroup = 10;  // seats between the spaces of a row

struct SeatCounts {
  uint32_t total = 0;
  uint32_t free = 0;
  uint32_t held = 0;
  uint32_t sold = 0;
  uint32_t holds = 0;     // distinct holds among the held seats
  uint32_t bookings = 0;  // distinct bookings among the sold seats
};

SeatCounts CountSeats(const wire::GetSeatsReply& reply);
std::string RenderSeatMap(const std::string& event_id, const wire::GetSeatsReply& reply);

}  // namespace seatlock::tools

#endif  // SEATLOCK_TOOLS_SEAT_MAP_H_
