// SIGSTOP that returns only once the process has stopped. kill(2) queues the
// signal and returns at once; a thread running on another core keeps going
// until it next enters the kernel, so a test that faults a process with
// SIGSTOP and then sends it a request could see that request answered. The
// fault helpers (EtcdServer::Pause, ClusterProcess::Pause) go through here.
//
// Stateless; any thread.
#ifndef SEATLOCK_TESTS_CLUSTER_PROCESS_STOP_H_
#define SEATLOCK_TESTS_CLUSTER_PROCESS_STOP_H_

#include <sys/types.h>

namespace seatlock::testing {

// Sends SIGSTOP to `pid` and waits (at most `timeout_ms`) until every one of
// its threads is in the stopped state ('T' in /proc/<pid>/task/*/stat).
// False if the signal could not be sent or the threads did not all stop in
// time; the signal stays sent either way.
bool StopAndWait(pid_t pid, int timeout_ms = 5000);

// Whether every thread of `pid` is stopped now. False if /proc has no such
// process.
bool AllThreadsStopped(pid_t pid);

}  // namespace seatlock::testing

#endif  // SEATLOCK_TESTS_CLUSTER_PROCESS_STOP_H_
