//! libreswan `ike=`/`esp=`/`ah=` proposal syntax, defaults and responder proposal matching.
