-- The C++/Postgres boundary: a C++ exception inside a SQL-callable function becomes a clean
-- ERROR after the C++ objects in scope are destroyed, and the session keeps working.
SET client_min_messages = error;
CREATE EXTENSION pg_eventhooks;
RESET client_min_messages;

SELECT eventhooks.raise_cpp_exception('destructors_run') AS destructors_before;
SELECT eventhooks.raise_cpp_exception('runtime_error');
SELECT eventhooks.raise_cpp_exception('config_error');
SELECT eventhooks.raise_cpp_exception('bad_alloc');
-- A Postgres ERROR raised where C++ called Postgres keeps its SQLSTATE and message.
\set VERBOSITY sqlstate
SELECT eventhooks.raise_cpp_exception('postgres_error');
\set VERBOSITY default
SELECT eventhooks.raise_cpp_exception('postgres_error');
-- Each of the five failing calls above destroyed its C++ object before reporting.
SELECT eventhooks.raise_cpp_exception('destructors_run') AS destructors_after;
SELECT eventhooks.raise_cpp_exception('none');

-- Inside a transaction: the error aborts it like any Postgres error, a savepoint recovers.
BEGIN;
SAVEPOINT s;
SELECT eventhooks.raise_cpp_exception('runtime_error');
ROLLBACK TO SAVEPOINT s;
SELECT 1 AS still_working;
COMMIT;

DROP EXTENSION pg_eventhooks;
