#![allow(unreachable_pub)]
pub mod strategies;
