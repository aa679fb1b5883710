// update tests: see below
