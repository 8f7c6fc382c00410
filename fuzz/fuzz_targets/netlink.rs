//! Runs arbitrary bytes through every parser of what the kernel sends on XFRM and
//! rtnetlink sockets (acks and errors with extended-ack text, SA and policy dumps,
//! acquire/expire/mapping events, routes). Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kernel::fuzzing::kernel_datagram(data);
});
