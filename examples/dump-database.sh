#!/bin/sh
# Stand-in for `pg_dump` in the isnad sample (a `command` source in isnad.yaml).
#
# SAMPLE DATA ONLY: prints a deterministic SQL dump of a fictional "cases" table of the
# fictional Riverbend Documentation Centre. No real people or cases. The rows match
# documents/case-register.xlsx.
#
# Usage:
#   ./dump-database.sh           print the dump to stdout, exit 0
#   ./dump-database.sh --fail    print the first part of the dump to stdout, then an error to
#                                stderr, and exit 1: a dump that dies half way, for tests
#                                (isnad must fail the snapshot when the command exits non-zero,
#                                even though it already wrote some output)
#
# The output never changes between runs (no timestamps), so two snapshots in a row store it once.

set -eu

fail=no
for arg in "$@"; do
  case "$arg" in
    --fail) fail=yes ;;
    -h|--help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "dump-database.sh: unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

# Schema
cat <<'SQL'
--
-- PostgreSQL database dump
--
-- SAMPLE DATA: fictional database "riverbend" of the fictional Riverbend Documentation Centre,
-- written by examples/dump-database.sh for the isnad examples. No real people or cases.
--

SET statement_timeout = 0;
SET lock_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET client_min_messages = warning;

SET default_tablespace = '';
SET default_table_access_method = heap;

--
-- Name: cases; Type: TABLE; Schema: public; Owner: riverbend
--

CREATE TABLE public.cases (
    case_id text NOT NULL,
    opened_on date NOT NULL,
    region text NOT NULL,
    status text NOT NULL,
    notes text,
    CONSTRAINT cases_status_check CHECK ((status = ANY (ARRAY['open'::text, 'closed'::text, 'referred'::text, 'pending review'::text])))
);


ALTER TABLE public.cases OWNER TO riverbend;

SQL

if [ "$fail" = yes ]; then
  echo 'dump-database.sh: error: query failed: server closed the connection unexpectedly (simulated failure, --fail)' >&2
  exit 1
fi

# Data and constraints
cat <<'SQL'
--
-- Data for Name: cases; Type: TABLE DATA; Schema: public; Owner: riverbend
--

INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-001', '2025-01-14', 'Upper Ashford', 'closed', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-002', '2025-02-03', 'Millbrook', 'closed', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-003', '2025-02-21', 'Stonegate', 'open', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-004', '2025-03-10', 'Upper Ashford', 'referred', 'Referred to partner legal-aid clinic; client''s lawyer informed');
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-005', '2025-04-02', 'Lower Fenwick', 'closed', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-006', '2025-04-28', 'Millbrook', 'referred', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-007', '2025-05-19', 'Upper Ashford', 'open', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-008', '2025-06-11', 'Stonegate', 'closed', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-009', '2025-07-07', 'Millbrook', 'closed', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-010', '2025-08-25', 'Lower Fenwick', 'referred', 'Statement recorded in Arabic (إفادة مسجلة باللغة العربية)');
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-011', '2025-09-16', 'Upper Ashford', 'closed', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-012', '2025-10-30', 'Stonegate', 'open', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-013', '2025-11-18', 'Millbrook', 'open', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2025-014', '2025-12-09', 'Upper Ashford', 'open', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2026-001', '2026-01-12', 'Millbrook', 'open', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2026-002', '2026-01-29', 'Stonegate', 'open', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2026-003', '2026-02-10', 'Lower Fenwick', 'open', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2026-004', '2026-02-24', 'Upper Ashford', 'pending review', 'Second source awaited before finding is reported');
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2026-005', '2026-03-05', 'Millbrook', 'open', NULL);
INSERT INTO public.cases (case_id, opened_on, region, status, notes) VALUES ('RDC-2026-006', '2026-03-23', 'Stonegate', 'pending review', 'Photographs received; origin being checked');


--
-- Name: cases cases_pkey; Type: CONSTRAINT; Schema: public; Owner: riverbend
--

ALTER TABLE ONLY public.cases
    ADD CONSTRAINT cases_pkey PRIMARY KEY (case_id);


--
-- PostgreSQL database dump complete
--

SQL
