# PGXS build of the pg_eventhooks extension: compiles src/core/*.cpp and src/pg/**/*.cpp with g++
# into pg_eventhooks.so. src/core's unit tests are built by CMakeLists.txt instead.
EXTENSION = pg_eventhooks
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" pg_eventhooks.control)
MODULE_big = pg_eventhooks
OBJS = $(patsubst %.cpp,%.o,$(sort $(wildcard src/core/*.cpp) $(wildcard src/pg/*.cpp) $(wildcard src/pg/*/*.cpp)))
# Every install and upgrade script: a fresh install of $(EXTVERSION) runs the first one and the
# upgrades after it, so an upgraded database and a new one have the same schema.
DATA = $(wildcard sql/pg_eventhooks--*.sql)
PGFILEDESC = "pg_eventhooks - event triggers delivered as webhooks"

REGRESS = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/pg_eventhooks--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --temp-config=test/regress.conf
TAP_TESTS = 1



PG_CONFIG ?= pg_config
PG_CPPFLAGS = -Isrc -DEVENTHOOKS_VERSION='"$(EXTVERSION)"'
PG_CXXFLAGS = -std=c++17 -fPIC -Wall -Wextra -Wno-missing-field-initializers -Wno-unused-parameter -Wno-register \
	-fno-omit-frame-pointer -MMD -MP
SHLIB_LINK = -lcurl -lcrypto -lstdc++

# Bitcode for JIT inlining would need clang at build time; it buys nothing for this extension.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

ifeq ($(WERROR),1)
override CXXFLAGS += -Werror
endif

# After the PGXS include, which resets PROVE_FLAGS.
PROVE_FLAGS = -I ./test/perl
PROVE_TESTS = test/t/*.pl

# Rebuild objects when a header they include changes (PGXS tracks no header dependencies).
-include $(OBJS:.o=.d)
EXTRA_CLEAN = $(OBJS:.o=.d)
