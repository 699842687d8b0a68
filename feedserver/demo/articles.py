"""The demo site's articles: a fortnight or so of news from the imaginary city of Brackwater.

Written for this project. Every place, person and organisation is invented;
every link is absolute (feed readers resolve nothing, and the W3C validator
warns on relative URLs in content) and points at a reserved ``.example``
domain. Bodies use only tags the sanitizer keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class DemoArticle:
    """One demo article; ``age`` is how long before loading it was published."""

    slug: str
    title: str
    summary: str
    section: str
    authors: tuple[str, ...]
    age: timedelta
    body: str
    source: str | None = None
    original_url: str | None = None
    edited_after: timedelta | None = None


def _ago(days: int, hours: int, minutes: int) -> timedelta:
    return timedelta(days=days, hours=hours, minutes=minutes)


ARTICLES: tuple[DemoArticle, ...] = (
    DemoArticle(
        slug="weekend-cycling-up-by-a-third-on-riverside-path",
        title="Weekend cycling up by a third since the riverside path reopened",
        summary="Automatic counters recorded an average of 3,400 bike trips on each weekend day on the rebuilt path, against about 2,550 before it closed.",
        section="city",
        authors=("maren-solberg", "ines-carvalho"),
        source="brackwater-council",
        original_url="https://council.brackwater.example/news/riverside-path-cycle-counts",
        age=_ago(0, 3, 12),
        body="""
<p>Cycling along the river has risen sharply since the rebuilt riverside path reopened in the autumn, according to figures published by Brackwater City Council.</p>
<p>Automatic counters on the Mill Bridge and Southbank stretches recorded an average of 3,400 cycle trips on each weekend day over the past eight weeks, compared with about 2,550 in the same weeks before the path closed for reconstruction: a rise of roughly a third. Weekday numbers grew more modestly, by 12 per cent.</p>
<p>The path has been widened to four metres, resurfaced, and separated from pedestrians along its busiest section. New lighting now runs between the Mill Bridge and Harbour Square.</p>
<p>The Ledger's own look at the council's <a href="https://council.brackwater.example/data/cycle-counters">open counter data</a> shows the biggest growth between 9am and noon on Saturdays, which suggests families and leisure riders rather than commuters account for most of the increase. Walking groups say the separation has made the path calmer, though residents near the Southbank section have complained about riders speeding on the downhill stretch.</p>
""",
    ),
    DemoArticle(
        slug="late-header-sends-brackwater-rovers-up-as-champions",
        title="Late header sends Brackwater Rovers up as champions",
        summary="A 94th-minute goal from centre-back Kofi Mensah-Bauer beat Harrowgate Town 2–1 and settled the title on the final day.",
        section="sport",
        authors=("ines-carvalho",),
        source="northgate",
        original_url="https://www.northgate-news.example/sport/rovers-clinch-title",
        age=_ago(2, 5, 41),
        body="""
<p>Brackwater Rovers are champions. A header from centre-back Kofi Mensah-Bauer in the fourth minute of stoppage time beat Harrowgate Town 2–1 at the Riverside Ground on Saturday and lifted the club above their visitors on the last day of the season.</p>
<p>Harrowgate arrived needing only a draw and led for most of the afternoon after a cool finish from Danny Welles on 23 minutes. Rovers drew level through substitute Lena Park's deflected shot with twelve minutes left, and the winner came from the final corner of the match: Mensah-Bauer met it at the near post and the ball went in off the underside of the bar.</p>
<p>The crowd of 6,812 was the Riverside Ground's largest since its stands were rebuilt. Manager Sol Abernethy, in his second season, called it “the best ninety-four minutes of my working life, and the worst eighty-two”.</p>
<p>Promotion takes Rovers into the national third tier for the first time in 31 years. By the Ledger's count it is the club's first title of any kind since 1994, and only the second time they have won a league decider with a goal after the 90th minute.</p>
""",
    ),
    DemoArticle(
        slug="why-the-river-smelled-of-chocolate",
        title="Why the river smelled of chocolate last Tuesday",
        summary="A pressure valve at the Osterby confectionery works released cocoa-scented steam over the riverside. The city's environment team says it was harmless, if distracting.",
        section="city",
        authors=("maren-solberg",),
        age=_ago(4, 1, 7),
        body="""
<p>If you walked along the river path on Tuesday afternoon and suddenly wanted a biscuit, you were not imagining it.</p>
<p>A pressure relief valve at the Osterby confectionery works on Ferry Lane opened during routine maintenance at about 2.15pm, sending a plume of warm, cocoa-scented steam across the water. Within half an hour the smell had reached the Southbank landing, and the Ledger's inbox had received eleven emails, one of them consisting entirely of “🍫?”.</p>
<p>The city's environmental health team visited the site that afternoon. Officers said the release was water vapour carrying traces of cocoa butter and posed no risk to people or to the river. The factory said the valve had worked as designed, and that it has moved similar maintenance to the early morning.</p>
<p>Osterby has made chocolate on Ferry Lane since 1921 and employs about 240 people. Neighbours who have lived beside the works for decades were unmoved by the fuss. “Every December it smells like this for a week,” said one. “You get used to it. You never get tired of it.”</p>
""",
    ),
    DemoArticle(
        slug="review-the-winter-orchard-lyceum",
        title="Review: ‘The Winter Orchard’ is quiet, patient and devastating",
        summary="The Lyceum's new two-hander about an apple grower and the daughter who left is the most affecting thing on a Brackwater stage this year.",
        section="culture",
        authors=("priya-ramanathan",),
        age=_ago(6, 9, 30),
        body="""
<p>Very little happens in <em>The Winter Orchard</em>, and that is its quiet triumph. Over ninety minutes without an interval, an elderly apple grower and the daughter who left for the city twenty years ago prune trees, argue about a tractor and avoid, with great skill, the subject they have both come to discuss.</p>
<p>Writer Tamsin Okafor-Reid gives her characters the halting, sideways speech of people who love each other but have lost the habit of saying so. As the father, Geraint Hollis barely raises his voice all evening; the performance lives in his hands, which are never still. Noor Haddad, as the daughter, is his equal: brittle and funny until the moment she isn't.</p>
<p>Ossian Fry's set is a single gnarled tree on a bare, raked floor that slowly gathers snow, a simple idea executed so well that the press-night audience gasped when it began.</p>
<p>If there is a fault, it is a final scene that explains a little too much. It hardly matters. <strong>At the Lyceum Theatre for four more weeks</strong>; tickets from the <a href="https://lyceum-brackwater.example/whats-on/the-winter-orchard">Lyceum box office</a>.</p>
""",
    ),
    DemoArticle(
        slug="salt-caverns-store-a-record-week-of-wind-power",
        title="Salt caverns under the coast store a record week of wind power",
        summary="Compressed air held in old salt workings kept power flowing through a calm spell, the operator says, in the plant's longest run yet.",
        section="business",
        authors=("arvid-lindqvist", "dele-okonkwo"),
        source="northgate",
        original_url="https://www.northgate-news.example/energy/salt-cavern-storage-record",
        age=_ago(9, 4, 18),
        body="""
<p>A storage plant that pumps compressed air into old salt caverns beneath the northern coast delivered electricity for six days without a break during last week's still, high-pressure weather, its operator said on Monday. It is the longest continuous run since the plant opened.</p>
<p>The site at Skerry Head uses surplus power from offshore wind farms on blustery days to force air into two caverns left behind by a century of salt extraction. When the wind drops, the air is released through turbines. The operator, Coastline Storage, said the plant supplied about 1.9 gigawatt-hours over the six days, roughly a week's electricity for 25,000 homes.</p>
<p>Grid engineers have long warned that calm winter spells are the hardest test for a power system that leans on wind. Batteries can cover hours; caverns, at least in principle, can cover days. “This was the proof we've been waiting for,” said Marit Eide, Coastline Storage's operations director.</p>
<p>The company is now seeking permission to convert a third cavern. The Brackwater Chamber of Commerce said the expansion could bring about 80 construction jobs to the area over two years, but cautioned that planning is unlikely to be settled before next spring.</p>
""",
    ),
    DemoArticle(
        slug="cafe-mirabelle-turns-forty",
        title="Café Mirabelle turns forty, and the croissants haven’t changed",
        summary="The family-run café on Chandler Row marks four decades with the same recipe, the same espresso machine and a queue that forms before opening.",
        section="culture",
        authors=("priya-ramanathan",),
        age=_ago(11, 7, 55),
        body="""
<p>At seven on a wet Thursday morning the queue outside Café Mirabelle already reaches the corner of Chandler Row. Inside, Élodie Marchetti is doing what she has done most mornings for thirty years: folding butter into dough with the calm of someone who no longer needs to measure anything.</p>
<p>Her parents opened the café forty years ago this month, in a former ironmonger's shop bought with a bank loan and, she says, “an unreasonable amount of optimism”. The brass espresso machine behind the counter is the original. So is the croissant recipe, written in her mother's hand on a card that now lives in a plastic sleeve pinned above the oven.</p>
<blockquote><p>People ask what the secret is. It's cold hands, good butter and getting up at four. There is no fourth thing.</p></blockquote>
<p>The café will mark the anniversary with a weekend of music in its back courtyard and a small exhibition of photographs from its first decade, lent by regulars. Marchetti has no plans to expand. “Two rooms is the right size,” she says. “In three rooms I would never learn anyone's name.”</p>
""",
    ),
    DemoArticle(
        slug="tram-line-4-extension-opens-in-eastmoor",
        title="Tram line 4 extension opens to riders in Eastmoor",
        summary="The 3.2-kilometre extension adds four stops and brings the estate within twenty minutes of the harbour, two years after work began.",
        section="city",
        authors=("maren-solberg", "ines-carvalho"),
        age=_ago(14, 2, 3),
        body="""
<p>The first passenger tram on the extended line 4 left Harbour Square at 5.42 on Monday morning, carrying a handful of early-shift workers, two enthusiasts with cameras and one slightly bewildered commuter who said she had been waiting for the old bus.</p>
<p>The 3.2-kilometre extension adds four stops (Millbrook Road, Eastmoor Library, Canal Yard and Eastmoor Park) and brings the estate within twenty minutes of the city centre. Until now residents relied on the number 17 bus, which the operator's own figures show ran late on more than a third of weekday journeys last year.</p>
<p>“It sounds small, but it changes which jobs you can take,” said Aisha Brennan, who chairs the tenants' association on the Canal Yard side of the estate. “If you start at six at the hospital, the bus simply didn't get you there.”</p>
<p>Construction ran four months over schedule, largely because of a buried culvert that appeared on none of the city's drawings, and the final cost is expected to come in about 6 per cent over budget. The published <a href="https://council.brackwater.example/transport/line-4-timetable">line 4 timetable</a> has trams every seven minutes at peak times and every twelve in the evening.</p>
<p>The council says it will publish passenger counts for the new stops after three months. Anyone hoping for a late-night service will have to wait: the last tram from the centre still leaves at 23.50.</p>
""",
    ),
    DemoArticle(
        slug="urban-foxes-learned-the-bin-collection-timetable",
        title="Urban foxes have learned the bin-collection timetable, study finds",
        summary="GPS collars on 23 foxes showed them visiting streets on the night before collection day far more often than on other nights.",
        section="science",
        authors=("tobias-achterberg",),
        original_url="https://journals.example.org/urban-ecology/fox-foraging-timing",
        age=_ago(16, 6, 26),
        body="""
<p>Brackwater's foxes appear to know when the bins go out. A study that tracked 23 urban foxes with lightweight GPS collars found that they visited residential streets far more often on the night before collection day than on any other night of the week.</p>
<p>Researchers from the university's urban ecology group followed the animals for eight months across four neighbourhoods with different collection days. In each area, fox visits to pavements rose by between 60 and 110 per cent on the evening residents put their waste out, and fell back the night after.</p>
<p>“We expected them to be opportunistic,” said the study's lead author, Dr Freya Lindholm. “We didn't expect them to be organised. Some of them were effectively running a weekly round.”</p>
<p>The authors suggest that lidded bins, and putting rubbish out in the morning rather than the night before, would do more to prevent torn bags than any deterrent. The paper is <a href="https://journals.example.org/urban-ecology/fox-foraging-timing">published open access</a>, with the anonymised tracking data.</p>
""",
    ),
    DemoArticle(
        slug="bakers-cooperative-buys-the-old-tannery",
        title="Bakers’ cooperative buys the old tannery on Quay Street",
        summary="Eleven small bakeries have pooled their savings to buy a shared kitchen and shop in a building that has stood empty for fifteen years.",
        section="business",
        authors=("dele-okonkwo",),
        age=_ago(19, 3, 48),
        body="""
<p>The old tannery on Quay Street, empty for fifteen years and best known lately for the buddleia growing out of its chimney, has been bought by a cooperative of eleven independent bakeries.</p>
<p>The members plan to turn the ground floor into a shared production kitchen with three deck ovens and a cold room, and the corner facing the street into a shop selling bread from all eleven. The upper floor will become a training kitchen for apprentices.</p>
<p>“Most of us were renting a corner of someone else's kitchen at night,” said the cooperative's chair, Róisín Daly, who bakes sourdough under the name Low Tide. “Alone, none of us could have bought a building. Together we can, and we get better ovens than any of us would ever afford.”</p>
<p>The purchase was financed by members' savings, a loan from a community bank and a share offer that raised €180,000 from 640 local investors in six weeks. Renovation is due to begin in the spring. The cooperative's <a href="https://quaystreetbakers.example/business-plan">business plan</a> is published in full.</p>
""",
    ),
    DemoArticle(
        slug="council-approves-night-bus-trial-and-later-ferries",
        title="Council approves night-bus trial & longer ferry hours",
        summary="A six-month trial will run buses through the night on two routes from next month, and the harbour ferry will sail until midnight at weekends.",
        section="city",
        authors=("maren-solberg",),
        source="brackwater-council",
        original_url="https://council.brackwater.example/news/night-bus-and-ferry-trial",
        age=_ago(22, 8, 15),
        edited_after=timedelta(hours=3, minutes=20),
        body="""
<p>Brackwater City Council's transport committee has approved a six-month trial of night buses on two of the city's busiest routes, alongside later sailings of the harbour ferry at weekends.</p>
<p>Under the plan, routes N2 (Station to Westfield) and N9 (Harbour Square to Airport Road, via Eastmoor) will run every thirty minutes between midnight and 5am, seven nights a week. The ferry between Quay Street and the Southbank landing will make its last crossing at midnight on Fridays and Saturdays, instead of 21.30.</p>
<p>Councillors said the trial answers a consultation in which hospitality and hospital staff described long walks home or expensive taxis after late shifts. Officers will report back on passenger numbers, staffing and safety after three months.</p>
<p>The trial is paid for from the transport improvement budget and is expected to cost about €410,000. The committee report and consultation summary are <a href="https://council.brackwater.example/committees/transport/reports">on the council's website</a>.</p>
<p><em>Correction: an earlier version of this article gave the ferry's current last crossing as 22.00. It is 21.30.</em></p>
""",
    ),
    DemoArticle(
        slug="library-lends-telescopes-for-the-winter-sky",
        title="The library will lend you a telescope this winter",
        summary="Ten portable telescopes can be borrowed for two weeks with a library card, each with a star guide written by the city's amateur astronomers.",
        section="science",
        authors=("tobias-achterberg", "priya-ramanathan"),
        age=_ago(25, 4, 2),
        body="""
<p>Brackwater's central library has added something new to its catalogue: ten small reflecting telescopes, each packed in a padded case with a red torch, a laminated star chart and a guide to the winter sky.</p>
<p>Anyone with a library card can borrow one for two weeks, free of charge. The scheme was proposed by the Brackwater Astronomical Society, whose members donated five of the telescopes, fitted each with a simple finder and wrote the guide. The library bought the other five.</p>
<p>“The thing we hear most is that people would love to look at the Moon properly but don't know where to start, and don't want to spend a few hundred on something that ends up in a cupboard,” said Hamid Rezaei, the society's outreach secretary. “A loan takes the risk out of it.”</p>
<p>The guide suggests beginning with the Moon a few days either side of first quarter, when long shadows make the craters stand out, then moving on to the Pleiades and the Orion Nebula. Sixty people joined the waiting list in two days; the library is looking for funding to double the collection. Details are in the <a href="https://library.brackwater.example/catalogue/telescopes">library catalogue</a>.</p>
""",
    ),
    DemoArticle(
        slug="estuary-seagrass-recovering-faster-than-expected",
        title="Seagrass meadows in the estuary are recovering faster than expected",
        summary="A survey by the Halvorsen Institute found eelgrass covering almost twice the area it did five years ago, helped by cleaner water and fewer chain moorings.",
        section="science",
        authors=("tobias-achterberg",),
        source="halvorsen",
        original_url="https://halvorsen-institute.example.org/news/brack-estuary-seagrass-survey",
        age=_ago(27, 10, 33),
        body="""
<p>The seagrass meadows at the mouth of the Brack estuary now cover almost twice the area they did five years ago, according to a survey published this week by the Halvorsen Institute for Coastal Research.</p>
<p>Researchers mapped the meadows with drone photographs taken at low tide and with divers counting shoots in one-metre squares. They found eelgrass across roughly 48 hectares, up from 26 hectares in the institute's previous survey.</p>
<p>The team credits two changes. Upgrades to the Westfield treatment works have cut the nutrients reaching the estuary, so fewer algal blooms shade the plants. And a scheme that replaced chain moorings with floating ones has stopped anchor chains scouring the seabed in the sheltered bay off Saltings Point.</p>
<p>Seagrass matters well beyond the estuary, the report notes: meadows shelter young fish, hold sediment in place and store carbon in the mud beneath them. The authors caution that one good survey is not a trend, and that a single hot summer can set the meadows back. The <a href="https://halvorsen-institute.example.org/reports/brack-estuary-seagrass">full report, with maps</a>, is on the institute's website.</p>
""",
    ),
)


@dataclass(frozen=True, slots=True)
class DemoComment:
    """One approved reader comment; ``reply_to`` is the index of its parent in COMMENTS."""

    article: str
    name: str
    email: str  # never shown; comments simply require one
    body: str
    after: timedelta  # how long after the article it was posted
    url: str | None = None
    reply_to: int | None = None


COMMENTS: tuple[DemoComment, ...] = (
    DemoComment(
        article="tram-line-4-extension-opens-in-eastmoor",
        name="Jonas Feld",
        email="jonas.feld@mail.example",
        body="Rode it this morning from Canal Yard: twenty-two minutes door to door to the hospital, against forty-plus on the 17.\n\nThe Eastmoor Library stop badly needs a shelter, though. It was raining sideways.",
        after=timedelta(hours=5, minutes=12),
    ),
    DemoComment(
        article="tram-line-4-extension-opens-in-eastmoor",
        name="Patrick O'Donnell",
        email="pod@mail.example",
        body="Why does the last tram still leave at ten to midnight when the council is trialling night buses? Join them up!",
        after=timedelta(hours=9, minutes=40),
    ),
    DemoComment(
        article="tram-line-4-extension-opens-in-eastmoor",
        name="Maren Solberg",
        email="maren@ledger.example",
        body="Good question. We have asked the council whether the tram timetable will be reviewed alongside the night-bus trial, and will report what they say.",
        after=timedelta(days=1, hours=1, minutes=5),
        reply_to=1,
    ),
    DemoComment(
        article="why-the-river-smelled-of-chocolate",
        name="Hélène Voss",
        email="helene@mail.example",
        url="https://helene-voss.example/",
        body="Can confirm. My dog spent the whole afternoon at the window with her nose in the air. 🐕",
        after=timedelta(hours=3, minutes=27),
    ),
)
