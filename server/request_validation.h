// Request validation: the shape checks every request passes before it is
// routed. A request that fails them is answered INVALID_ARGUMENT and its
// connection is closed (docs/protocol.md §6). Domain limits (seats per hold,
// TTLs, label lengths) are the engine's business, not this one's.
//
// A pure function; any thread.
#ifndef SEATLOCK_SERVER_REQUEST_VALIDATION_H_
#define SEATLOCK_SERVER_REQUEST_VALIDATION_H_

#include <string>

#include "protocol/seatlock.pb.h"

namespace seatlock {

// Returns "" for a well-formed request, else what is wrong with it: a
// required field is missing or out of range (e.g. "hold.holder is empty").
std::string Malformed(const wire::Request& req);

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_REQUEST_VALIDATION_H_
