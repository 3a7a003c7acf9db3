/** Name and address pools for the simulator's generated customers. */
export const FIRST_NAMES = (
  'Olivia,Liam,Emma,Noah,Ava,Elijah,Sophia,James,Isabella,William,Mia,Benjamin,Charlotte,' +
  'Lucas,Amelia,Henry,Harper,Theodore,Evelyn,Jack,Abigail,Levi,Emily,Alexander,Ella,Mateo,' +
  'Elizabeth,Daniel,Camila,Michael,Luna,Mason,Sofia,Sebastian,Avery,Ethan,Mila,Logan,Aria,' +
  'Owen,Scarlett,Samuel,Penelope,Jacob,Layla,Asher,Chloe,Aiden,Victoria,John,Madison,Joseph,' +
  'Eleanor,Wyatt,Grace,David,Nora,Leo,Riley,Luke,Zoey,Julian,Hannah,Hudson,Hazel,Grayson,Lily,' +
  'Matthew,Ellie,Ezra,Violet,Gabriel,Lillian,Carter,Zoe,Isaac,Stella,Jayden,Aurora,Luca,' +
  'Natalie,Theresa,Helmut,Stephanie,Maria,Jose,Wei,Priya,Ahmed,Fatima,Yuki,Olga,Chidi'
).split(',');
export const LAST_NAMES = (
  'Smith,Johnson,Williams,Brown,Jones,Garcia,Miller,Davis,Rodriguez,Martinez,Hernandez,Lopez,' +
  'Gonzalez,Wilson,Anderson,Thomas,Taylor,Moore,Jackson,Martin,Lee,Perez,Thompson,White,' +
  'Harris,Sanchez,Clark,Ramirez,Lewis,Robinson,Walker,Young,Allen,King,Wright,Scott,Torres,' +
  'Nguyen,Hill,Flores,Green,Adams,Nelson,Baker,Hall,Rivera,Campbell,Mitchell,Carter,Roberts,' +
  "O'Brien,Von Poe,Zimmermann,Alonzo,Kowalski,Tremblay,Gagnon,Chen,Patel,Kim,Singh,Murphy," +
  'Cohen,Rossi,Müller'
).split(',');
export const CITIES: readonly (readonly [string, string, string])[] = [
  ['Springfield', 'IL', '62704'],
  ['Portland', 'OR', '97205'],
  ['Austin', 'TX', '78701'],
  ['Burlington', 'VT', '05401'],
  ['Madison', 'WI', '53703'],
  ['Asheville', 'NC', '28801'],
  ['Boulder', 'CO', '80302'],
  ['Ithaca', 'NY', '14850'],
];
export const STREETS = 'Main St,Oak Ave,Maple Dr,Cedar Ln,Elm St,Pine Rd,Washington Blvd,Lake St'.split(',');
