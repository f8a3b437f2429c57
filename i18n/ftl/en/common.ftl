# Names of the domain's values, shared by the console and the CLI. The codes
# themselves (draft, high, service, ...) stay untranslated in exports and the API.

status-draft = draft
status-complete = complete
status-approved = approved
status-rejected = rejected
status-needs-follow-up = needs follow-up
status-comment = comment

band-high = high
band-middle = middle
band-low = low

dimension-service = Service
dimension-product = Product
dimension-price = Price
dimension-network = Network
dimension-care = Customer care
dimension-overall = Overall

segment-individual = Individual
segment-family = Family
segment-enterprise = Government / enterprise

tier-high = High value
tier-middle = Middle value
tier-low = Low value
tier-unknown = Tier unknown

stage-received = received
stage-classified = classified
stage-dispatched = dispatched
stage-handled = handled
stage-reported = reported
stage-followed-up = followed up
stage-closed = closed

category-service = service
category-network = network
category-billing = billing / fees
category-marketing = marketing / promotion

warning-repeated-complaints = repeated complaints
warning-score-drop = score drop
warning-low-score-core-customer = low score from a core customer
warning-commitment-past-due = commitment past due
warning-refund-unconfirmed = refund or credit not confirmed
warning-case-overdue = case overdue

role-viewer = viewer
role-reviewer = reviewer
role-admin = admin
