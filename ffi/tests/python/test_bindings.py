"""The Python bindings, end to end: open a store with a key, record a visit with notes and
scores, answer a survey, list with a filter, receive change callbacks, catch typed
errors (validation, wrong key, an induced panic), open the golden store made by Rust,
and sync two Python clients through a real server started by scripts/test-bindings.

Run by scripts/test-bindings with PYTHONPATH=target/bindings/python and
FIELDSYNC_TEST_LINKS (enrolment links) and FIELDSYNC_TEST_SERVER (host:port) set.
"""

import json
import os
import shutil
import tempfile
import threading
import time
import unittest

import fieldsync_ffi as fs

KEY = bytes([7] * 32)
ROOT = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(ROOT, "..", "golden")


def account(name, owner):
    return fs.Account(name=name, segment=fs.SegmentKind.ENTERPRISE, industry=None, size=None,
                      region="north/county-1", value_tier=fs.ValueTier.HIGH, core=True,
                      contacts=[], owner=owner, co_owners=[])


def visit(account_id, owner, notes):
    return fs.Visit(account_id=account_id, owner=owner, purpose="quarterly review",
                    planned_at=1_700_000_000_000, attendees=[owner], check_in=None, check_out=None,
                    notes=notes, scores=fs.DimensionScores(service=7, product=None, price=None,
                                                           network=4, care=None, overall=6),
                    issues=[], commitments=[], cancelled=False)


def survey():
    return fs.Form(form_key="py-sat", version=1, title="Satisfaction", published=True,
                   published_at=0, questions=[
                       fs.Question(id="overall", kind=fs.QuestionKind.SCORE, label="Overall",
                                   hint=None, required=True, dimension=fs.Dimension.OVERALL,
                                   scale=None, choices=[]),
                       fs.Question(id="comment", kind=fs.QuestionKind.TEXT, label="Why?",
                                   hint=None, required=False, dimension=None, scale=None,
                                   choices=[]),
                   ])


def response(form_id, overall, at=1_700_000_000_000):
    return fs.Response(
        form_id=form_id, form_version=1, status=fs.ResponseStatus.COMPLETE,
        respondent=fs.Respondent(name="R", phone=None, customer_id="C1",
                                 segment=fs.Segment(kind=fs.SegmentKind.INDIVIDUAL,
                                                    value_tier=None, core=False)),
        region="north/county-1/district-2",
        answers={"overall": fs.Answer.SCORE(score=fs.Score(value=overall, min=1, max=10,
                                                            dimension=fs.Dimension.OVERALL))},
        location=None, started_at=at, completed_at=None, enumerator="py",
        note="", review=[], follow_ups=[])


class Recorder(fs.ChangeListener):
    def __init__(self):
        self.events = []
        self.cv = threading.Condition()

    def on_change(self, ids, origin):
        with self.cv:
            self.events.append((ids, origin))
            self.cv.notify_all()


class Bindings(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def open(self, name="s.db", key=KEY, device="py-dev", user="py-user"):
        return fs.FieldStore.open(os.path.join(self.dir, name), key, device, user)

    def test_records_lists_and_callbacks(self):
        s = self.open()
        rec = Recorder()
        handle = s.add_change_listener(rec)
        acc = s.create_account("account:acme", account("Acme", "py-user"))
        vid = s.create_visit("account:acme", visit(acc, "py-user", "CFO attended."))
        s.insert_visit_note(vid, 0, "[Py] ")
        v = s.get_visit(vid)
        self.assertEqual(v.notes, "[Py] CFO attended.")
        self.assertEqual(v.scores.overall, 6)
        form_id = s.create_form("team:a", survey())
        low = s.create_response("team:a", response(form_id, 3))
        s.create_response("team:a", response(form_id, 9))
        f = fs.ResponseFilter(form_id=form_id, status=None, region="north", segment=None,
                              core=None, band=fs.Band.LOW, started_from=None,
                              started_before=None, enumerator=None)
        page = s.list_responses(f, 50, None)
        self.assertEqual([r.id for r in page.items], [low])
        visits = s.list_visits(acc, None, 10, None)
        self.assertEqual(len(visits.items), 1)
        with rec.cv:
            rec.cv.wait_for(lambda: len(rec.events) >= 5, timeout=5)
        self.assertTrue(any(vid in ids and o == fs.ChangeOrigin.LOCAL for ids, o in rec.events))
        s.remove_change_listener(handle)
        s.close()

    def test_typed_errors(self):
        s = self.open()
        acc = s.create_account("account:acme", account("Acme", "py-user"))
        bad = visit(acc, "py-user", "")
        bad.scores.overall = 11
        with self.assertRaises(fs.FieldsyncError.Validation) as e:
            s.create_visit("account:acme", bad)
        self.assertEqual(e.exception.field, "scores.overall")
        self.assertEqual(e.exception.code, "score_out_of_range")
        # The stable code and parameters render in either language from the catalogue.
        params = [fs.ErrorParam(name="field", value=e.exception.field),
                  fs.ErrorParam(name="rule", value=e.exception.code),
                  fs.ErrorParam(name="message", value="")]
        self.assertEqual(fs.error_message("validation", params, "zh-CN"),
                         "scores.overall：评分超出量表范围")
        self.assertEqual(fs.error_message("validation", params, "en"),
                         "scores.overall: the score is outside the scale")
        with self.assertRaises(fs.FieldsyncError.NotFound):
            s.get_visit("0" * 32)
        with self.assertRaises(fs.FieldsyncError.InvalidArgument):
            s.get_visit("not-an-id")
        s.close()
        with self.assertRaises(fs.FieldsyncError.WrongKey):
            self.open(key=bytes([8] * 32))

    def test_xlsform_skip_logic_and_completion(self):
        example = os.path.join(ROOT, "..", "..", "..", "examples", "forms",
                               "telecom-satisfaction.xlsx")
        with open(example, "rb") as f:
            imported = fs.import_xlsform(f.read(), "telecom-satisfaction.xlsx")
        self.assertEqual(imported.errors, [])
        form = imported.form
        self.assertEqual(form.form_key, "telecom-sat")
        form.published = True
        form.published_at = 1
        store = self.open()
        form_id = store.create_form("team:py", form)
        en = fs.FormLocale(language="en", utc_offset_minutes=480)
        zh = fs.FormLocale(language="zh-CN", utc_offset_minutes=480)
        rid = store.start_response("team:py", form_id, "north/county-1", en)

        def node(q, instance=None):
            return fs.FormNode(question=q, instance=instance or [])

        def state(q, loc=en):
            ev = store.evaluate_response(rid, loc)
            return next(n for n in ev.nodes if n.node == node(q))

        score = lambda q, v: fs.Answer.SCORE(score=fs.Score(
            value=v, min=1, max=10, dimension=next(x for x in form.questions if x.id == q).dimension))
        self.assertFalse(state("why_network").visible)
        store.set_form_answer(rid, node("network_coverage"), score("network_coverage", 2))
        self.assertTrue(state("why_network").visible)
        self.assertEqual(state("why_network", zh).label, "网络在何时何地表现不好？")
        # An out-of-range score is refused as a typed error.
        with self.assertRaises(fs.FieldsyncError.Validation) as e:
            store.set_form_answer(rid, node("overall"), fs.Answer.SCORE(
                score=fs.Score(value=11, min=1, max=10, dimension=fs.Dimension.OVERALL)))
        self.assertEqual(e.exception.code, "score_out_of_range")
        # Completion waits for the required answers.
        self.assertFalse(store.evaluate_response(rid, en).can_complete)
        with self.assertRaises(fs.FieldsyncError.Validation) as e:
            store.complete_response(rid, en)
        self.assertEqual((e.exception.field, e.exception.code), ("answers.segment", "required"))
        for q, v in [("segment", "family"), ("value_tier", "middle"), ("core_customer", "no"),
                     ("region", "east"), ("contact_consent", "no")]:
            store.set_form_answer(rid, node(q), fs.Answer.CHOICE(value=v))
        store.set_form_answer(rid, node("overall"), score("overall", 9))
        store.set_form_answer(rid, node("complaint_count"), fs.Answer.INTEGER(value=1))
        path = store.add_repeat_instance(rid, "complaints", [])
        self.assertEqual(path, [0])
        offered = store.offered_choices(rid, node("complaint_category", path), zh)
        self.assertEqual(len(offered), 4)
        store.set_form_answer(rid, node("complaint_category", path),
                              fs.Answer.CHOICE(value=offered[0].value))
        self.assertTrue(store.evaluate_response(rid, en).can_complete)
        self.assertTrue(store.complete_response(rid, en))
        done = store.get_response(rid)
        self.assertEqual(done.status, fs.ResponseStatus.COMPLETE)
        self.assertEqual(done.answers["overall_band"], fs.Answer.TEXT(value="high"))
        self.assertEqual(len(done.repeats), 1)
        # A broken spreadsheet: errors name sheet, row and column.
        bad = fs.import_xlsform(b"survey,type,name,label\n,integer,1bad,Age\n", "bad.csv")
        self.assertIsNone(bad.form)
        self.assertTrue(bad.errors)
        self.assertEqual(bad.errors[0].sheet, "survey")
        self.assertEqual(bad.errors[0].column, "name")

    def test_figures_offline(self):
        store = self.open()
        form_id = store.create_form("team:py", survey())
        # One customer, three surveys a day apart, overall 9 then 6 then 2.
        for i, overall in enumerate((9, 6, 2)):
            store.create_response("team:py", response(form_id, overall, 1_700_000_000_000 + i * 86_400_000))
        s = store.satisfaction(fs.FigureFilter())
        self.assertEqual((s.overall.n, s.overall.high, s.overall.middle, s.overall.low), (3, 1, 1, 1))
        self.assertAlmostEqual(s.overall.mean, 17 / 3)
        self.assertAlmostEqual(s.overall.high_pct, 100 / 3)
        self.assertEqual(s.by_segment[0].segment, fs.SegmentKind.INDIVIDUAL)
        self.assertEqual(s.ordinary.n, 3)
        self.assertEqual(s.core.n, 0)
        self.assertEqual(store.case_figures(0).total, 0)
        # Two drops of at least 2 points for customer C1 (9 -> 6, 6 -> 2), owned by the
        # enumerator of the later survey.
        drops = sorted((w.kind, w.customer_id, w.owner, w.value) for w in store.early_warnings(0))
        self.assertEqual(drops, [("score_drop", "C1", "py", 3.0), ("score_drop", "C1", "py", 4.0)])

    def test_panic_arrives_as_an_error(self):
        s = self.open()
        with self.assertRaises(fs.FieldsyncError.Internal):
            s.debug_induce_panic()
        # The store still works afterwards.
        s.create_account("account:acme", account("After", "py-user"))

    def test_golden_store_from_rust(self):
        with open(os.path.join(GOLDEN, "manifest.json")) as fh:
            m = json.load(fh)
        copy = os.path.join(self.dir, "golden.db")
        shutil.copy(os.path.join(GOLDEN, "golden.db"), copy)
        s = fs.FieldStore.open(copy, bytes.fromhex(m["key_hex"]), "py-reader", "py-reader")
        self.assertEqual(s.get_account(m["account_id"]).name, m["account_name"])
        v = s.get_visit(m["visit_id"])
        self.assertEqual(v.notes, m["visit_notes"])
        self.assertEqual(v.scores.overall, m["visit_overall"])
        self.assertEqual(s.open_commitments(None, None, 10)[0].description, m["commitment"])

    def test_two_clients_sync_through_a_real_server(self):
        # scripts/test-bindings starts the server and sets this; running this file
        # without it is an error, not a skip.
        links = os.environ.get("FIELDSYNC_TEST_LINKS", "").split()
        self.assertGreaterEqual(len(links), 2)
        a = self.open("a.db", device="py-a-%d" % os.getpid(), user="field-1")
        b = self.open("b.db", device="py-b-%d" % os.getpid(), user="field-1")
        ca, cb = fs.SyncClient(a), fs.SyncClient(b)
        ca.enrol(links[0], "Python A")
        cb.enrol(links[1], "Python B")
        acc = a.create_account("team:default", account("Synced", "field-1"))
        vid = a.create_visit("team:default", visit(acc, "field-1", "Agenda."))
        r = ca.sync_now()
        self.assertEqual(r.accepted, 2)
        self.assertEqual(r.round_trips, 1)
        cb.sync_now()
        self.assertEqual(b.get_visit(vid).notes, "Agenda.")
        # Both edit the same note offline; both edits survive.
        a.insert_visit_note(vid, 0, "[A] ")
        vb = b.get_visit(vid)
        vb.notes = vb.notes + " [B]"
        b.update_visit(vid, vb)
        for c in (ca, cb, ca):
            c.sync_now()
        self.assertEqual(a.get_visit(vid).notes, "[A] Agenda. [B]")
        self.assertEqual(b.get_visit(vid).notes, a.get_visit(vid).notes)
        # Positions count characters, in Chinese too (and the note still syncs).
        a.insert_visit_note(vid, 0, "议程：")
        a.insert_visit_note(vid, 3, "续约。")
        self.assertEqual(a.get_visit(vid).notes, "议程：续约。[A] Agenda. [B]")
        vb = b.get_visit(vid)
        vb.notes = vb.notes + " 下周回访。"
        b.update_visit(vid, vb)
        for c in (ca, cb, ca):
            c.sync_now()
        self.assertEqual(a.get_visit(vid).notes, "议程：续约。[A] Agenda. [B] 下周回访。")
        self.assertEqual(b.get_visit(vid).notes, a.get_visit(vid).notes)
        # Background sync with a progress listener.
        done = threading.Event()

        class Progress(fs.SyncProgressListener):
            def on_sync(self, report, error):
                if report is not None:
                    done.set()

        cb.set_progress_listener(Progress())
        cb.start_background(3600)
        a.update_account(acc, account("Synced and renamed", "field-1"))
        ca.sync_now()
        deadline = time.time() + 10
        while time.time() < deadline and b.get_account(acc).name != "Synced and renamed":
            time.sleep(0.05)
        self.assertEqual(b.get_account(acc).name, "Synced and renamed")
        self.assertTrue(done.is_set())
        cb.stop_background()
        self.assertFalse(cb.status().background)
        # Attachments: A attaches a photo to the visit and uploads it with progress; B
        # sees the reference, fetches the bytes when it opens the visit, exports them.
        photo = os.path.join(self.dir, "site.jpg")
        data = os.urandom(300_000)
        with open(photo, "wb") as f:
            f.write(data)
        ref = a.attach_to_visit(vid, photo, "image/jpeg", "site.jpg")
        self.assertEqual(len(ref.sha256), 64)
        self.assertEqual(a.get_visit(vid).attachments, [ref])
        seen = []

        class BlobProgress(fs.BlobProgressListener):
            def on_progress(self, sha256, upload, chunks_done, chunks_total):
                seen.append((sha256, upload, chunks_done, chunks_total))

        ca.set_blob_progress_listener(BlobProgress())
        self.assertEqual(ca.transfer_blobs_now().uploaded, 1)
        self.assertIn((ref.sha256, True, 2, 2), seen)
        self.assertTrue(a.blob_status(ref.sha256).on_server)
        cb.sync_now()
        self.assertEqual(b.missing_blobs(vid), [ref.sha256])
        self.assertIsNone(b.blob_status(ref.sha256))
        # The server authorises the fetch from its merged view, which follows the log.
        for _ in range(100):
            try:
                got = cb.fetch_document_blobs(vid)
                break
            except fs.FieldsyncError.Unauthorized:
                time.sleep(0.1)
        self.assertEqual(got.downloaded, 1)
        self.assertEqual(b.missing_blobs(vid), [])
        copy = os.path.join(self.dir, "copy.jpg")
        b.export_blob(ref.sha256, copy)
        with open(copy, "rb") as f:
            self.assertEqual(f.read(), data)
        with self.assertRaises(fs.FieldsyncError.InvalidArgument):
            b.export_blob("not-a-hash", copy)
        with self.assertRaises(fs.FieldsyncError.NotFound):
            b.export_blob("0" * 64, copy)


if __name__ == "__main__":
    unittest.main(verbosity=2)
