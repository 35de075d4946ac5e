lpa-lib_1.0-1_all.deb
