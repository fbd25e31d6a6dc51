//! Windows LocalMachine\My store (written next).
